"""The evaluation-harness model on tiny models and local YAML tasks (absolute data paths: the
harness resolves relative `data_files` against the working directory): its multiple-choice
answers equal layerbridge's rank predictions, its generations equal `LayerBridge.generate`."""

import json

import pytest
import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main
from layerbridge.evaluation.predict import predict

from tiny_models import save_tiny_models

lm_eval = pytest.importorskip("lm_eval", reason="the lm-eval extra is not installed")

LABELS = ["Sports", "Political", "Science"]
ROWS = [("The match ended with a late goal.", 0), ("Parliament passed the budget.", 1), ("A new phone chip.", 2),
        ("ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය.", 0), ("ජනාධිපති පක්ෂ නායකයින් හමුවිය.", 1),
        ("The team won the cup.", 0)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval")
    enc, llm = save_tiny_models(root)
    torch.manual_seed(0)
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), fusion="global_softmax"))
    bridge.save_pretrained(root / "bridge")
    data = root / "rows.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": l, "target": LABELS[l]}, ensure_ascii=False) + "\n"
                            for t, l in ROWS), encoding="utf-8")
    tasks = root / "tasks"
    tasks.mkdir()
    common = (f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
              "doc_to_text: '{{text}}'\n")
    (tasks / "tiny_topics.yaml").write_text(
        f"task: tiny_topics\n{common}output_type: multiple_choice\ndoc_to_choice: {json.dumps(LABELS)}\n"
        "doc_to_target: label\ntarget_delimiter: ''\nmetric_list:\n  - metric: acc\n", encoding="utf-8")
    (tasks / "tiny_echo.yaml").write_text(
        f"task: tiny_echo\n{common}output_type: generate_until\ndoc_to_target: '{{{{target}}}}'\n"
        "generation_kwargs:\n  until: ['\\n', '.']\n  max_gen_toks: 6\nmetric_list:\n  - metric: exact_match\n",
        encoding="utf-8")
    return root, LayerBridge.from_pretrained(root / "bridge")


def test_harness_choices_and_generations_equal_layerbridges_own(setup):
    root, bridge = setup
    out = root / "out"
    assert main(["lm-eval", str(root / "bridge"), "--tasks", "tiny_topics,tiny_echo", "--include-path",
                 str(root / "tasks"), "-o", str(out), "--batch-size", "4"]) == 0
    results = json.loads((out / "results.json").read_text())
    texts = [t for t, _ in ROWS]
    ours, _ = predict(bridge, texts, LABELS, mode="rank")
    samples = [json.loads(line) for line in (out / "samples_tiny_topics.jsonl").read_text().splitlines()]
    samples.sort(key=lambda s: s["doc_id"])
    theirs = [max(range(len(LABELS)), key=lambda c: s["filtered_resps"][c][0]) for s in samples]
    assert theirs == ours
    accuracy = sum(p == l for p, (_, l) in zip(ours, ROWS)) / len(ROWS)
    assert results["results"]["tiny_topics"]["acc,none"] == pytest.approx(accuracy)
    scores = bridge.score(texts, LABELS)  # the harness's log-likelihoods are layerbridge's rank scores
    for s in samples:
        torch.testing.assert_close(torch.tensor([r[0] for r in s["filtered_resps"]]), scores[s["doc_id"]],
                                   atol=1e-4, rtol=1e-4)
    generated = [json.loads(line) for line in (out / "samples_tiny_echo.jsonl").read_text().splitlines()]
    generated.sort(key=lambda s: s["doc_id"])
    expected = bridge.generate(texts, max_new_tokens=6, stop_at_newline=False, stop_strings=["\n", "."])
    assert [s["filtered_resps"][0] for s in generated] == expected
    assert "tiny_topics" in (out / "results.md").read_text()


def test_rolling_loglikelihood_is_refused_and_bad_tasks_named(setup, capsys):
    from layerbridge.integrations.lm_eval import LayerBridgeLM

    root, bridge = setup
    with pytest.raises(NotImplementedError, match="not defined for a bridge"):
        LayerBridgeLM(bridge).loglikelihood_rolling([])
    assert main(["lm-eval", str(root / "bridge"), "--tasks", "no_such_task", "-o", str(root / "x")]) == 2
    assert "unknown harness task(s) ['no_such_task']" in capsys.readouterr().err


def _long_rows():
    """8 documents of ~60 encoder tokens each, every one ending in its own question: 5 shots + the
    question are well past 200 tokens, the question alone is not."""
    filler = "The film won three awards at the festival and the fans cheered for the company. "
    return [(f"Report {k}: " + filler * 3 + f"Question {k}: did Parliament pass budget number {k}?", k % 3)
            for k in range(8)]


def test_five_shot_context_keeps_its_question_and_counts_truncations(setup, capsys, monkeypatch):
    """Issue 29, defect 1: the harness puts the few-shot examples first and the question last; a
    context longer than max_encoder_length (200) must keep its end, and the cut is reported."""
    from layerbridge.bridge.text import BridgeText

    root, bridge = setup
    rows = _long_rows()
    data = root / "long_rows.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows), encoding="utf-8")
    tasks = root / "long_tasks"
    tasks.mkdir()
    (tasks / "tiny_fewshot.yaml").write_text(
        f"task: tiny_fewshot\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\nfewshot_split: test\nnum_fewshot: 5\ndoc_to_text: '{{text}}'\n"
        f"output_type: multiple_choice\ndoc_to_choice: {json.dumps(LABELS)}\ndoc_to_target: label\n"
        "target_delimiter: ''\nmetric_list:\n  - metric: acc\n", encoding="utf-8")
    read: list[str] = []  # what the encoder read, decoded
    original = BridgeText.tokenize

    def spy(self, texts):
        enc = original(self, texts)
        read.extend(self.encoder_tokenizer.batch_decode(enc["input_ids"], skip_special_tokens=True))
        return enc

    monkeypatch.setattr(BridgeText, "tokenize", spy)
    out = root / "out_fewshot"
    assert main(["lm-eval", str(root / "bridge"), "--tasks", "tiny_fewshot", "--include-path", str(tasks),
                 "-o", str(out), "--batch-size", "8"]) == 0
    samples = [json.loads(line) for line in (out / "samples_tiny_fewshot.jsonl").read_text().splitlines()]
    assert len(samples) == len(rows)
    tok = bridge.encoder_tokenizer
    for s in samples:
        first = s["arguments"][0] if isinstance(s["arguments"], list) else s["arguments"]["gen_args_0"]
        context = first[0] if isinstance(first, list) else first["arg_0"]
        question = rows[s["doc_id"]][0]
        assert context.endswith(question) and context.count("Question ") == 6  # 5 shots, then the question
        assert len(tok(context)["input_ids"]) > 200 > len(tok(question)["input_ids"])
        assert any(text.rstrip().endswith(question) for text in read), f"the encoder never read {question!r}"
    report = json.loads((out / "results.json").read_text())["layerbridge"]["truncated"]
    assert report["tiny_fewshot"] == {"contexts": len(rows), "truncated": len(rows), "max_encoder_length": 200,
                                      "truncation_side": "left"}
    assert f"tiny_fewshot: {len(rows)} of {len(rows)} contexts were longer than max_encoder_length=200" \
        in capsys.readouterr().err
    assert main(["lm-eval", str(root / "bridge"), "--tasks", "tiny_fewshot", "--include-path", str(tasks),
                 "-o", str(root / "x"), "--max-encoder-length", "300"]) == 2  # the tiny encoder has 256 positions
    assert "max_encoder_length=300" in capsys.readouterr().err
    assert main(["lm-eval", str(root / "bridge"), "--tasks", "tiny_fewshot", "--include-path", str(tasks),
                 "-o", str(root / "x"), "--max-encoder-length", "2"]) == 2  # <s> and </s>: no room for the context
    assert "max_encoder_length=2 leaves no room for text" in capsys.readouterr().err


def test_center_languages_fits_one_mean_per_task(setup):
    """Issue 29, defect 6: two tasks in one harness call, each one language, each centred on its own
    mean: the harness's scores equal layerbridge's own for each task alone."""
    from lm_eval.tasks import TaskManager

    from layerbridge.integrations.lm_eval import LayerBridgeLM

    root, bridge = setup
    torch.manual_seed(0)
    centred = LayerBridge.from_config(BridgeConfig(encoder=bridge.config.encoder, llm=bridge.config.llm,
                                                   center_languages=True))
    english = [t for t, _ in ROWS if t.isascii()]
    centred.fit_source_mean(english)
    tasks = root / "centred_tasks"
    tasks.mkdir()
    groups = {"tiny_en": [(t, l) for t, l in ROWS if t.isascii()], "tiny_si": [(t, l) for t, l in ROWS if not t.isascii()]}
    for name, rows in groups.items():
        data = root / f"{name}.jsonl"
        data.write_text("".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n" for t, l in rows),
                        encoding="utf-8")
        (tasks / f"{name}.yaml").write_text(
            f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
            f"doc_to_text: '{{{{text}}}}'\noutput_type: multiple_choice\ndoc_to_choice: {json.dumps(LABELS)}\n"
            "doc_to_target: label\ntarget_delimiter: ''\nmetric_list:\n  - metric: acc\n", encoding="utf-8")
    results = lm_eval.simple_evaluate(model=LayerBridgeLM(centred, batch_size=4), tasks=list(groups),
                                      task_manager=TaskManager(include_path=str(tasks)), log_samples=True)
    for name, rows in groups.items():
        texts = [t for t, _ in rows]
        with centred.input_language(texts):
            expected = centred.score(texts, LABELS)
        for s in results["samples"][name]:
            torch.testing.assert_close(torch.tensor([r[0] for r in s["filtered_resps"]]), expected[s["doc_id"]],
                                       atol=1e-4, rtol=1e-4)
