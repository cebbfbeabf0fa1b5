"""Inputs longer than max_encoder_length (issue 29, defect 1): which end is cut (`truncation_side`;
the encoder prefix and special tokens stay), how far the limit may be raised (the encoder's own
positions, refused beyond with the option named), and every command saying how many inputs it cut."""

import json

import pytest
import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main
from layerbridge.errors import ConfigError

from tiny_models import save_tiny_models

LABELS = ["Sports", "Political", "Science"]
FILLER = "The film won three awards at the festival. " * 8
LONG = FILLER + "Question: Parliament passed the budget"
SHORT = ["A goal.", "The vote.", "A chip."]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("truncation")
    return root, *save_tiny_models(root)


def test_left_truncation_keeps_the_end_the_prefix_and_special_tokens(models):
    root, enc, llm = models
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), max_encoder_length=16,
                                                  encoder_prefix="query: ", truncation_side="left"))
    tok = bridge.encoder_tokenizer
    batch = bridge.tokenize([LONG, SHORT[0]])
    ids = batch["input_ids"][0].tolist()
    assert len(ids) == 16 and batch["attention_mask"][0].all()
    assert ids[0] == tok.convert_tokens_to_ids("<s>") and ids[-1] == tok.convert_tokens_to_ids("</s>")
    text = tok.decode(ids, skip_special_tokens=True)
    assert text.startswith("query: ") and text.endswith(" Parliament passed the budget"), text
    left = {k: v[1] for k, v in batch.items()}
    bridge.config.truncation_side = "right"  # a text that fits reads the same whichever side cuts
    right = bridge.tokenize([LONG, SHORT[0]])
    assert tok.decode(right["input_ids"][0], skip_special_tokens=True).startswith("query: The film won")
    for key in ("input_ids", "attention_mask"):
        assert torch.equal(left[key], right[key][1])
    assert bridge.truncated([LONG, SHORT[0]]) == [True, False]
    assert bridge.token_lengths([LONG, SHORT[0]])[0] == 16
    # the lengths, counted from one untruncated tokenization, are what tokenize() reads, on either side
    for side in ("left", "right"):
        bridge.config.truncation_side = side
        assert bridge.token_lengths([LONG, *SHORT]) == bridge.tokenize([LONG, *SHORT])["attention_mask"].sum(1).tolist()


def test_max_encoder_length_up_to_the_encoders_positions(models):
    root, enc, llm = models  # the tiny encoder has 256 learned positions
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), max_encoder_length=256))
    long = FILLER * 8
    enc_in = bridge.tokenize([long])
    assert enc_in["input_ids"].shape[1] == 256
    assert bridge.encoder_states(**enc_in).shape[1] == 256  # raised past the default 200, read whole
    bridge.config.max_encoder_length = 257
    for call in (bridge.tokenize, bridge.token_lengths):
        with pytest.raises(ConfigError, match=r"max_encoder_length=257 .* 256 positions.*--max-encoder-length"):
            call([long])


def test_max_encoder_length_must_leave_room_for_text_beside_the_special_tokens(models):
    root, enc, llm = models  # the tiny encoder's tokenizer adds <s> and </s>
    with pytest.raises(ConfigError, match=r"max_encoder_length=2 leaves no room for text: .* adds 2 special"):
        LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), max_encoder_length=2))
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), max_encoder_length=3))
    assert bridge.tokenize([LONG])["input_ids"].shape[1] == 3  # one token of text between the two
    bridge.config.encoder_prefix = "query: "  # the prefix is kept too: no room left for the text
    with pytest.raises(ConfigError, match=r"encoder prefix takes \d+; set max_encoder_length \(--max-encoder-length\)"):
        bridge.tokenize([LONG])


def test_evaluate_and_predict_report_truncated_inputs(models, capsys):
    root, enc, llm = models
    torch.manual_seed(0)
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), max_encoder_length=40))
    bridge.save_pretrained(root / "bridge")
    rows = [(LONG, 1), (SHORT[0], 0), (FILLER, 2), (SHORT[1], 1)]
    for name in ("en_train.jsonl", "en_test.jsonl"):
        (root / name).write_text("".join(json.dumps({"text": t, "label": LABELS[l]}) + "\n" for t, l in rows),
                                 encoding="utf-8")
    task = root / "news.yaml"
    task.write_text("name: tiny_news\nprompt: 'News: {text} Category: '\n"
                    f"label_words: {json.dumps(LABELS)}\ntrain_language: en\nlanguages: [en]\n"
                    "files:\n  en: {train: en_train.jsonl, test: en_test.jsonl}\n", encoding="utf-8")
    out = root / "eval"
    assert main(["evaluate", str(root / "bridge"), "--task", str(task), "--mode", "rank", "-o", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["languages"]["en"]["truncated"] == 2
    assert "2 of 4 inputs were longer than max_encoder_length=40 encoder tokens" in capsys.readouterr().err
    assert main(["predict", str(root / "bridge"), LONG, SHORT[2], "--task", str(task)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "1 of 2 inputs were longer than max_encoder_length=40 encoder tokens" in captured.err
    assert main(["predict", str(root / "bridge"), *SHORT, "--task", str(task)]) == 0
    assert "longer than" not in capsys.readouterr().err


def test_train_reports_truncated_training_texts(models, capsys):
    """`layerbridge train` says how many English training texts it reads cut, and records it."""
    root, enc, llm = models
    rows = [(LONG, 1), (SHORT[0], 0), (FILLER, 2), (SHORT[1], 1), (SHORT[2], 2), (LONG, 0)]
    (root / "cut_train.jsonl").write_text("".join(json.dumps({"text": t, "label": LABELS[l]}) + "\n" for t, l in rows),
                                          encoding="utf-8")
    task = root / "cut.yaml"
    task.write_text("name: tiny_cut\nprompt: 'News: {text} Category: '\n"
                    f"label_words: {json.dumps(LABELS)}\ntrain_language: en\nlanguages: [en]\n"
                    "files:\n  en: {train: cut_train.jsonl, test: cut_test.jsonl}\n", encoding="utf-8")
    (root / "cut_test.jsonl").write_text(json.dumps({"text": SHORT[0], "label": LABELS[0]}) + "\n", encoding="utf-8")
    out = root / "cut-run"
    assert main(["train", "--task", str(task), "--encoder", str(enc), "--llm", str(llm), "-o", str(out),
                 "--max-encoder-length", "40", "--max-steps", "1", "--batch-size", "2", "--dev-size", "0"]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["inputs_truncated"] == 3
    assert "3 of 6 training texts were longer than max_encoder_length=40 encoder tokens" in capsys.readouterr().out
