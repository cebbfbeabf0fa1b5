"""Generation tasks: task files and their errors, the LLM prompt (instruction, augmentation text) and
where it sits, decoding (stop strings, beams, sampling), metrics against sacrebleu, atomic outputs,
and a tiny-model train -> evaluate -> predict -> compare round trip."""

import json
import warnings
from pathlib import Path

import pytest
import sacrebleu
import torch

from layerbridge import BridgeConfig, LayerBridge
from layerbridge.bridge.centring import mean_state
from layerbridge.cli.main import main
from layerbridge.errors import ConfigError, DataError
from layerbridge.evaluation import text_metrics
from layerbridge.tasks import SkippedRowsWarning, get_task, load_examples, load_train_dev

from tiny_models import save_tiny_models

EN = ["The match ended with a late goal.", "Parliament passed the new budget.", "The film won three awards.",
      "A new phone was released today.", "The company reported higher profits."]
XX = ["ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය.", "නව දුරකථනය අද නිකුත් විය."]


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def task_dir(tmp_path):
    write_rows(tmp_path / "en_train.jsonl", [{"question": q, "answer": q.upper(), "n": i} for i, q in enumerate(EN * 3)])
    write_rows(tmp_path / "xx_test.jsonl", [{"question": q, "answer": f"answer {i}", "n": i} for i, q in enumerate(XX)])
    return tmp_path


def task_yaml(folder: Path, **fields) -> Path:
    spec = {"name": "tiny_gen", "kind": "generation", "prompt": "Q: {question} A: ", "target_field": "answer",
            "instruction": "Answer: ", "train_language": "en", "languages": ["xx"], "low_resource": ["xx"],
            "files": {"en": {"train": "en_train.jsonl"}, "xx": {"test": "xx_test.jsonl"}}}
    spec.update(fields)
    spec = {k: v for k, v in spec.items() if v is not None}
    path = folder / "task.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- task files
def test_generation_task_file_loads_targets(task_dir):
    task = get_task(task_yaml(task_dir, max_target_length=12))
    assert task.is_generation and task.metrics == ("chrf", "bleu", "exact_match")
    assert task.instruction == "Answer: " and task.max_target_length == 12
    test = load_examples(task, "xx")
    assert [e.target for e in test] == ["answer 0", "answer 1"] and test[0].text == f"Q: {XX[0]} A: "
    train, dev = load_train_dev(task, dev_size=3)
    assert len(train) == 12 and len(dev) == 3 and all(e.target == e.text[3:-4].upper() for e in train + dev)

    template = get_task(task_yaml(task_dir, target_field=None, target="#{n}: {answer}", metrics=["numeric_match"]))
    assert load_examples(template, "xx")[1].target == "#1: answer 1" and template.metrics == ("numeric_match",)


@pytest.mark.parametrize("fields, field", [
    ({"label_words": ["a", "b"]}, "label_words"),
    ({"target_field": None}, "target_field"),
    ({"target": "{answer}"}, "target_field"),
    ({"target_field": "missing_column"}, "files.en.train"),
    ({"max_target_length": 0}, "max_target_length"),
    ({"metrics": ["accuracy"]}, "metrics"),
    ({"kind": "poem"}, "kind"),
    ({"kind": None, "label_words": ["a"], "label_field": "answer"}, "target_field"),
    ({"reference_language": "en"}, "reference_language"),
    ({"instruction": 3}, "instruction"),
])
def test_generation_task_file_errors_name_file_and_field(task_dir, fields, field):
    path = task_yaml(task_dir, **fields)
    with pytest.raises(ConfigError) as err:
        get_task(path)
    assert str(path) in str(err.value) and f"'{field}'" in str(err.value)


def test_empty_targets_follow_the_empty_text_rule(task_dir):
    write_rows(task_dir / "xx_test.jsonl", [{"question": "q1", "answer": " "}, {"question": "q2", "answer": 42}])
    task = get_task(task_yaml(task_dir))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        examples = load_examples(task, "xx")
    assert [e.target for e in examples] == ["42"]  # a number is a valid target (math answers)
    assert any(issubclass(w.category, SkippedRowsWarning) and "xx_test.jsonl" in str(w.message) for w in caught)
    with pytest.raises(DataError, match=r"xx_test.jsonl:1: field 'answer' is empty"):
        load_examples(get_task(task_yaml(task_dir, on_empty_text="error")), "xx")


def test_flores_en_pairs_targets_by_id_and_never_trains_on_a_test_reference(tmp_path):
    root = tmp_path / "sib200"
    for lang, texts in {"eng_Latn": ["One.", "Two.", "Three."], "sin_Sinh": ["එක.", "දෙක.", "තුන."]}.items():
        (root / lang).mkdir(parents=True)
        write_rows(root / lang / "test.jsonl", [{"index_id": i, "category": "travel", "text": t}
                                                for i, t in zip((7, 3, 5), texts)])
    write_rows(root / "eng_Latn" / "train.jsonl", [{"index_id": i, "category": "travel", "text": t}
                                                   for i, t in enumerate(["Two.", "Four.", "Five.", "Six."] * 3)])
    write_rows(root / "eng_Latn" / "validation.jsonl", [{"index_id": 1, "category": "travel", "text": "Seven."}])
    (tmp_path / "sinhala_news" / "en").mkdir(parents=True)
    write_rows(tmp_path / "sinhala_news" / "en" / "train.jsonl", [{"text": "Eight.", "label": "Sports"}])
    task = get_task("flores_en")
    test = load_examples(task, "sin_Sinh", data_dir=tmp_path, source="local")
    assert [(e.row_id, e.text, e.target) for e in test] == [("7", "එක.", "One."), ("3", "දෙක.", "Two."),
                                                            ("5", "තුන.", "Three.")]
    train, dev = load_train_dev(task, data_dir=tmp_path, source="local", dev_size=0)
    texts = sorted(e.target for e in train)
    assert texts == ["Eight.", "Five.", "Four.", "Seven.", "Six."]  # deduplicated; "Two." is a test reference
    assert all(e.text == e.target for e in train)
    write_rows(root / "sin_Sinh" / "test.jsonl", [{"index_id": 99, "category": "travel", "text": "?"}])
    with pytest.raises(DataError, match="no eng_Latn row with the same index_id"):
        load_examples(task, "sin_Sinh", data_dir=tmp_path, source="local")


# ---------------------------------------------------------------------------- the LLM prompt
def prompted_bridge(parts, **config):
    return LayerBridge(BridgeConfig(fusion="global_softmax", **config), *parts)


def test_a_chat_template_that_opens_with_bos_adds_no_second_bos(tiny_parts):
    """Llama 3 and Gemma templates start with the BOS token; the bridge's sequence already has one."""
    tokenizer = tiny_parts[3]
    tokenizer.chat_template = ("{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}[assistant] {% endif %}")
    bridge = prompted_bridge(tiny_parts, llm_input="soft+instruction", instruction="Translate into English: ",
                             chat_template=True)
    prompt = bridge.prompt_ids(["A text."])[0]
    assert tokenizer.bos_token_id not in prompt
    assert bridge.prompt_texts(["A text."])[0].startswith("[user] Translate into English: ")
    inputs = bridge.llm_inputs(*bridge.encode(["A text."]), bridge.target_ids(["Done."]), [prompt])
    bos = bridge.llm.get_input_embeddings()(torch.tensor([tokenizer.bos_token_id]))[0]
    is_bos = [torch.equal(row, bos) for row in inputs.inputs_embeds[0]]
    assert sum(is_bos) == 1 and is_bos[0]


def test_instruction_sits_after_the_boundary_and_is_never_a_target(tiny_parts):
    bridge = prompted_bridge(tiny_parts, llm_input="soft+instruction", instruction="Translate into English: ")
    texts = ["The match ended.", "A much longer text about the new budget that parliament passed."]
    soft, mask = bridge.encode(texts)
    prompt = bridge.prompt_ids(texts)
    targets = bridge.target_ids(["Sports", "Politics and more"])
    inputs = bridge.llm_inputs(soft, mask, targets, prompt)
    embed = bridge.llm.get_input_embeddings()
    T = inputs.inputs_embeds.shape[1]
    instruction = bridge.llm_tokenizer("Translate into English: ", add_special_tokens=False)["input_ids"]
    for b in range(2):
        p, m, s = len(prompt[b]), len(targets[b]), int(mask[b].sum())
        assert prompt[b] == instruction
        real = 1 + s + 1 + p + m  # BOS, soft tokens, boundary, instruction, target
        assert inputs.attention_mask[b].tolist() == [0] * (T - real) + [1] * real  # left padding only
        assert inputs.position_ids[b, T - real:].tolist() == list(range(real))
        start = T - m - p
        assert torch.equal(inputs.inputs_embeds[b, start:start + p], embed(torch.tensor(instruction)))
        assert torch.equal(inputs.inputs_embeds[b, start - 1], bridge.end_boundary.detach())
        picked = inputs.target_positions[inputs.target_rows == b].tolist()
        assert picked == list(range(T - m - 1, T - 1))  # the instruction's own tokens are never predicted
        assert inputs.target_ids[inputs.target_rows == b].tolist() == targets[b]
    loss = bridge.loss(texts, ["Sports", "Politics and more"]).loss
    loss.backward()
    assert bridge.projector.weight.grad.abs().sum() > 0


def test_augmentation_text_goes_through_the_llm_tokenizer(tiny_parts):
    texts = ["ශ්‍රී ලංකා ක්‍රිකට්.", "The film won."]
    appended = prompted_bridge(tiny_parts, llm_input="soft+instruction+text", instruction="Read: ")
    tokenize = lambda s: appended.llm_tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert appended.prompt_ids(texts) == [tokenize("Read: " + t) for t in texts]
    placed = prompted_bridge(tiny_parts, llm_input="soft+instruction+text", instruction="Text: {text}\nEnglish: ")
    assert placed.prompt_ids(texts) == [tokenize(f"Text: {t}\nEnglish: ") for t in texts]
    alone = prompted_bridge(tiny_parts, llm_input="instruction+text", instruction="Read: ")
    inputs = alone.llm_inputs(*alone.encode(texts), None, alone.prompt_ids(texts))
    assert int(inputs.attention_mask[1].sum()) == 1 + len(tokenize("Read: The film won."))  # BOS + prompt, no soft tokens
    assert alone.score(texts, ["a", "b c"]).shape == (2, 2)


def test_llm_input_settings_are_checked_and_saved(tiny_parts, tmp_path):
    with pytest.raises(ConfigError, match="reads no instruction"):
        BridgeConfig(llm_input="soft", instruction="Translate: ")
    with pytest.raises(ConfigError, match="needs a non-empty instruction"):
        BridgeConfig(llm_input="soft+instruction")
    with pytest.raises(ConfigError, match="gives the LLM no text"):
        BridgeConfig(llm_input="soft+instruction", instruction="Say {text}")
    bridge = prompted_bridge(tiny_parts, llm_input="soft+instruction+text", instruction="Read: ")
    bridge.save_pretrained(tmp_path / "b")
    loaded = LayerBridge.from_pretrained(tmp_path / "b", models=tiny_parts)
    assert (loaded.config.llm_input, loaded.config.instruction) == ("soft+instruction+text", "Read: ")
    texts = ["The match ended."]
    assert loaded.generate(texts, max_new_tokens=6) == bridge.generate(texts, max_new_tokens=6)


# ---------------------------------------------------------------------------- decoding
def test_stop_strings_cut_and_stop(tiny_parts):
    bridge = prompted_bridge(tiny_parts)
    texts = ["The match ended with a late goal.", "Parliament passed the new budget."]
    lengths = []
    generate = bridge.llm.generate

    def counting(*args, **kwargs):
        out = generate(*args, **kwargs)
        lengths.append(out.shape[1])
        return out

    bridge.llm.generate = counting
    free = bridge.generate(texts, max_new_tokens=24, stop_at_newline=False)
    assert all(len(f) >= 10 for f in free) and lengths[-1] == 24, free
    stop = free[0][1:3]
    stopped = bridge.generate(texts, max_new_tokens=24, stop_at_newline=False, stop_strings=[stop, free[1][:2]])
    assert lengths[-1] < 24  # generation itself stopped, not only the text
    assert stopped[0] == free[0].split(stop)[0].strip() and stop not in stopped[0]
    assert stopped[1] == "" and free[1][:2] not in stopped[1]


def test_beam_search_and_seeded_sampling(tiny_parts):
    bridge = prompted_bridge(tiny_parts)
    texts = ["The match ended.", "A new phone."]
    greedy = bridge.generate(texts, max_new_tokens=8)
    one_beam = bridge.generate(texts, max_new_tokens=8, num_beams=1)
    assert greedy == one_beam and len(bridge.generate(texts, max_new_tokens=8, num_beams=3)) == 2
    a = bridge.generate(texts, max_new_tokens=8, do_sample=True, temperature=1.5, seed=3)
    assert a == bridge.generate(texts, max_new_tokens=8, do_sample=True, temperature=1.5, seed=3)


# ---------------------------------------------------------------------------- metrics
def test_metrics_equal_sacrebleu_and_hand_cases():
    hyps = ["the cat sat on the mat", "a dog barked loudly", ""]
    refs = ["the cat sat on a mat", "the dog barked", "nothing here"]
    assert text_metrics.chrf(hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score)
    assert text_metrics.bleu(hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert text_metrics.chrf(refs, refs) == pytest.approx(100.0) and text_metrics.chrf(["xyz"], ["abc"]) == 0.0
    assert text_metrics.exact_match(["The  cat ", "dog"], ["The cat", "Dog"]) == 0.5
    assert text_metrics.numeric_answer("so she has 3,000 apples. #### 3000") == 3000
    assert text_metrics.numeric_answer("It costs -2.5 dollars, not 7") == 7
    assert text_metrics.numeric_answer("no number") is None
    assert text_metrics.numeric_match(["The answer is 12.", "5 + 5 = 11", "x"], ["#### 12", "10", "none"]) == 1 / 3


def test_predictions_are_written_atomically(tmp_path, monkeypatch):
    from layerbridge import io
    from layerbridge.reporting.tables import write_predictions

    path = tmp_path / "predictions" / "xx.jsonl"
    path.parent.mkdir()
    path.write_text("old\n")
    monkeypatch.setattr(io.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_predictions(tmp_path, {"xx": {"predictions": [{"id": "1", "output": "new"}]}})
    assert path.read_text() == "old\n" and sorted(p.name for p in path.parent.iterdir()) == ["xx.jsonl"]


# ---------------------------------------------------------------------------- round trip
def test_train_evaluate_predict_compare_generation(tmp_path, task_dir, capsys):
    enc, llm = save_tiny_models(tmp_path)
    task = task_yaml(task_dir, max_target_length=6)
    common = ["--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3"]
    run = tmp_path / "run"
    assert main(["train", *common, "-o", str(run), "--max-steps", "3", "--batch-size", "4", "--lr", "1e-2",
                 "--projector-init", "lexical"]) == 0
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["targets_truncated"] > 0 and summary["max_target_length"] == 6  # the upper-cased answers are long
    assert summary["dev_chrf"] is not None and summary["lexical_init"]["tokens"] > 0
    config = json.loads((run / "bridge_config.json").read_text())
    assert (config["llm_input"], config["instruction"]) == ("soft+instruction", "Answer: ")

    assert main(["evaluate", str(run), "--max-new-tokens", "5", "--num-beams", "2"]) == 0
    out = run / "eval-tiny_gen-generation"
    result = json.loads((out / "results.json").read_text())
    assert set(result["languages"]["xx"]) >= {"chrf", "bleu", "exact_match", "n"} and result["decoding"]["num_beams"] == 2
    rows = [json.loads(l) for l in (out / "predictions" / "xx.jsonl").read_text().splitlines()]
    assert [(r["input"], r["reference"]) for r in rows] == [(f"Q: {q} A: ", f"answer {i}") for i, q in enumerate(XX)]
    assert result["languages"]["xx"]["chrf"] == pytest.approx(text_metrics.chrf([r["output"] for r in rows],
                                                                                [r["reference"] for r in rows]))
    assert "chrF++" in (out / "results.md").read_text() and "reference:" in (out / "examples.md").read_text()
    low, high = result["languages"]["xx"]["chrf_ci95"]  # the bootstrap interval over the sentences
    assert low <= result["languages"]["xx"]["chrf"] <= high and result["languages"]["xx"]["bootstrap"]["resamples"] == 1000

    capsys.readouterr()
    inputs = write_rows(tmp_path / "in.jsonl", [{"question": "What won?"}, {"question": XX[0]}])
    assert main(["predict", str(run), "-i", str(inputs), "--max-new-tokens", "4"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["question"] for l in lines] == ["What won?", XX[0]]
    assert all(isinstance(l["output"], str) and "label" not in l for l in lines)

    compare = tmp_path / "compare"
    assert main(["compare", *common, "-o", str(compare), "--fusions", "last", "--max-steps", "2", "--batch-size", "4",
                 "--max-new-tokens", "4"]) == 0
    document = json.loads((compare / "compare.json").read_text())
    assert document["metric"] == "chrf" and document["mode"] == "generation"
    assert set(document["references"]) == {"LLM alone", "LLM alone, zero-shot"}
    run = document["runs"]["last"]
    assert "chrf_ci95" in run["results"]["xx"] and len(run["low_resource_chrf_ci95"]) == 2
    assert run["average_intervals"]["low_resource"]["joint"] and run["average_intervals"]["low_resource"]["languages"] == ["xx"]
    assert all("xx" in row["chrf_ci95"] and "low_resource_chrf_ci95" in row for row in document["references"].values())
    assert not any(k.endswith("_ci95") or k == "average_intervals" for k in run["summary"])  # kept once, beside it
    zero = json.loads((compare / "llm_zero_shot" / "eval-generation" / "results.json").read_text())
    assert zero["bridge_config"]["llm_input"] == "instruction+text"
    assert "chrF++ per language" in (compare / "report.md").read_text()
    capsys.readouterr()
    assert main(["compare", *common, "-o", str(tmp_path / "c2"), "--references", "probe"]) == 2
    assert "a linear probe cannot write" in capsys.readouterr().err


def test_center_languages_moves_a_language_mean_onto_english_and_is_saved(tiny_parts, tmp_path):
    bridge = prompted_bridge(tiny_parts, center_languages=True)
    bridge.fit_source_mean(EN)
    assert torch.allclose(bridge.centring.source_mean, mean_state(bridge, EN))
    enc = bridge.tokenize(XX)
    plain = bridge.encoder_states(**enc)
    with bridge.input_language(XX):
        shifted = bridge.encoder_states(**enc)
    mask = enc["attention_mask"].float()[:, :, None, None]
    moved = (shifted * mask).sum((0, 1)) / mask.sum()
    assert torch.allclose(moved, bridge.centring.source_mean, atol=1e-5) and not torch.allclose(plain, shifted)
    assert bridge.centring.input_mean is None and torch.equal(bridge.encoder_states(**enc), plain)  # only inside the block
    english = bridge.tokenize(EN)
    before = bridge.encoder_states(**english)
    with bridge.input_language(EN):  # English itself is not moved
        assert torch.allclose(bridge.encoder_states(**english), before, atol=1e-5)
    bridge.save_pretrained(tmp_path / "b")
    loaded = LayerBridge.from_pretrained(tmp_path / "b", models=tiny_parts)
    assert torch.equal(loaded.centring.source_mean, bridge.centring.source_mean)
    with pytest.raises(ConfigError):  # a bridge saved without the English mean does not load as centring
        plain_bridge = prompted_bridge(tiny_parts)
        plain_bridge.save_pretrained(tmp_path / "p")
        config = json.loads((tmp_path / "p" / "bridge_config.json").read_text())
        (tmp_path / "p" / "bridge_config.json").write_text(json.dumps({**config, "center_languages": True}))
        LayerBridge.from_pretrained(tmp_path / "p", models=tiny_parts)


def test_demo_on_a_generation_task_prints_scores_and_examples(tmp_path, task_dir, capsys):
    enc, llm = save_tiny_models(tmp_path)
    task = task_yaml(task_dir)
    out = tmp_path / "demo"
    assert main(["demo", "--task", str(task), "--encoder", str(enc), "--llm", str(llm), "--languages", "xx",
                 "--max-steps", "2", "--batch-size", "4", "--dev-size", "3", "--max-new-tokens", "4",
                 "--mixed-precision", "no", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "chrF++" in printed and "example outputs" in printed and printed.count("ref: ") == 2
    document = json.loads((out / "compare.json").read_text())
    assert list(document["references"]) == ["LLM alone, zero-shot"]  # the demo's only reference: no second training
    config = json.loads((out / "global_softmax" / "bridge_config.json").read_text())
    assert config["projector_init"] == "lexical" and json.loads((out / "global_softmax" / "train_config.json")
                                                               .read_text())["max_steps"] == 2  # the command line wins


def test_a_stop_string_counts_only_after_some_text(tiny_parts):
    from layerbridge.bridge.stopping import StopAfterText

    tokenizer = tiny_parts[3]
    rows = ["\n", "\n\nThe match", "\nThe match\n", "The film won."]
    ids = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in rows]
    width = max(map(len, ids))
    batch = torch.tensor([[tokenizer.pad_token_id] * (width - len(i)) + i for i in ids])
    assert StopAfterText(["\n"], tokenizer)(batch, None).tolist() == [False, False, True, False]
    assert StopAfterText(["\n", "won"], tokenizer)(batch, None).tolist() == [False, False, True, True]
