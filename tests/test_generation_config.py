"""Decoding a bridge was tuned with travels with it (generation_config.json beside bridge_config.json):
the task's own settings and those given at training are saved; evaluate, predict, lm-eval and
`LayerBridge.generate` use them unless a flag or argument says otherwise; results record the settings
used; a bridge saved without the file decodes as before."""

import importlib
import json
import shutil
import sys
import types

import pytest
import torch

from layerbridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main, parse_args
from layerbridge.cli.options import decoding_overrides
from layerbridge.decoding import GENERATION_CONFIG_NAME, Decoding, load_generation_config, tuned_decoding
from layerbridge.errors import ConfigError
from layerbridge.tasks import get_task

from tiny_models import save_tiny_models

EN = ["The match ended with a late goal.", "Parliament passed the new budget.", "The film won three awards.",
      "A new phone was released today.", "The company reported higher profits."]
XX = ["ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය.", "නව දුරකථනය අද නිකුත් විය.", "The team won the cup."]
TUNED = Decoding(max_new_tokens=7, num_beams=2, no_repeat_ngram_size=2, repetition_penalty=1.3)


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("generation_config"))


def task_file(folder, **fields):
    write_rows(folder / "en_train.jsonl", [{"question": q, "answer": q, "n": i} for i, q in enumerate(EN * 2)])
    write_rows(folder / "xx_test.jsonl", [{"question": q, "answer": f"answer {i}", "n": i} for i, q in enumerate(XX)])
    spec = {"name": "tiny_gen", "kind": "generation", "prompt": "Q: {question} A: ", "target_field": "answer",
            "instruction": "Answer: ", "train_language": "en", "languages": ["xx"],
            "files": {"en": {"train": "en_train.jsonl"}, "xx": {"test": "xx_test.jsonl"}}, **fields}
    path = folder / "task.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def saved_bridge(models, folder, generation_config=None):
    enc, llm = models
    torch.manual_seed(0)
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), fusion="global_softmax",
                                                  llm_input="soft+instruction", instruction="Answer: "))
    bridge.generation_config = generation_config
    bridge.save_pretrained(folder)
    return bridge


def spy_generate(bridge) -> list:
    """The GenerationConfig of every call the bridge makes to its LLM's generate."""
    seen, generate = [], bridge.llm.generate

    def spy(*args, **kwargs):
        seen.append(kwargs["generation_config"])
        return generate(*args, **kwargs)

    bridge.llm.generate = spy
    return seen


def test_saved_settings_round_trip_and_are_checked(models, tmp_path):
    saved_bridge(models, tmp_path / "b", TUNED)
    assert json.loads((tmp_path / "b" / GENERATION_CONFIG_NAME).read_text())["no_repeat_ngram_size"] == 2
    assert load_generation_config(tmp_path / "b") == TUNED
    assert LayerBridge.from_pretrained(tmp_path / "b").generation_config == TUNED
    (tmp_path / "b" / GENERATION_CONFIG_NAME).write_text(json.dumps({"num_beam": 2}))
    with pytest.raises(ConfigError, match="num_beam"):
        load_generation_config(tmp_path / "b")
    # flores_en's chosen settings (docs/generation.md) are its own; training flags go over them
    assert tuned_decoding(get_task("flores_en")) == Decoding(max_new_tokens=80, no_repeat_ngram_size=3)
    assert tuned_decoding(get_task("flores_en"), {"num_beams": 4}).num_beams == 4
    assert tuned_decoding(get_task("sib200")) is None


def test_python_generate_uses_the_saved_settings_unless_told(models, tmp_path):
    saved_bridge(models, tmp_path / "b", TUNED)
    bridge = LayerBridge.from_pretrained(tmp_path / "b")
    seen = spy_generate(bridge)
    texts = XX[:2]
    default = bridge.generate(texts)
    config = seen[-1]
    assert (config.max_new_tokens, config.num_beams, config.no_repeat_ngram_size, config.repetition_penalty) == (
        7, 2, 2, 1.3)
    assert default == bridge.generate(texts, **TUNED.generate_kwargs())
    bridge.generate(texts, num_beams=1, max_new_tokens=3)  # explicit arguments override, the rest stays saved
    assert (seen[-1].num_beams, seen[-1].max_new_tokens, seen[-1].no_repeat_ngram_size) == (1, 3, 2)


def test_evaluate_uses_the_saved_settings_and_a_flag_overrides(models, tmp_path):
    task = task_file(tmp_path)
    saved_bridge(models, tmp_path / "tuned", TUNED)
    shutil.copytree(tmp_path / "tuned", tmp_path / "old")
    (tmp_path / "old" / GENERATION_CONFIG_NAME).unlink()  # the same weights, saved before bridges kept decoding

    def evaluate(folder, *flags):
        out = tmp_path / f"eval-{folder}-{len(flags)}"
        assert main(["evaluate", str(tmp_path / folder), "--task", str(task), "-o", str(out), *flags]) == 0
        outputs = [json.loads(line)["output"] for line in (out / "predictions" / "xx.jsonl").read_text().splitlines()]
        return json.loads((out / "results.json").read_text()), outputs

    saved, saved_outputs = evaluate("tuned")
    assert saved["decoding"] == TUNED.to_dict() and saved["decoding_source"] == "generation_config.json"
    assert saved["decoding_flags"] == []
    explicit, explicit_outputs = evaluate("old", "--max-new-tokens", "7", "--num-beams", "2",
                                          "--no-repeat-ngram-size", "2", "--repetition-penalty", "1.3")
    assert explicit["decoding"] == saved["decoding"] and explicit_outputs == saved_outputs
    assert explicit["decoding_source"] == "defaults"

    overridden, _ = evaluate("tuned", "--num-beams", "1")
    assert overridden["decoding"] == {**TUNED.to_dict(), "num_beams": 1} and overridden["decoding_flags"] == ["num_beams"]
    old, _ = evaluate("old")  # no generation_config.json: today's defaults, greedy, 128 new tokens
    assert old["decoding"] == Decoding().to_dict() and old["decoding_source"] == "defaults"


def test_an_old_bridge_generates_as_before(models, tmp_path):
    saved_bridge(models, tmp_path / "old")
    assert not (tmp_path / "old" / GENERATION_CONFIG_NAME).exists()
    bridge = LayerBridge.from_pretrained(tmp_path / "old")
    assert bridge.generation_config is None
    seen = spy_generate(bridge)
    default = bridge.generate(XX[:2])
    assert (seen[-1].max_new_tokens, seen[-1].num_beams, seen[-1].no_repeat_ngram_size) == (32, 1, 0)
    assert default == bridge.generate(XX[:2], max_new_tokens=32, stop_at_newline=True, num_beams=1)


def test_train_saves_the_tasks_settings_with_the_flags_over_them(models, tmp_path, capsys):
    enc, llm = models
    task = task_file(tmp_path, decoding={"max_new_tokens": 9, "num_beams": 2})
    run = tmp_path / "run"
    assert main(["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "2",
                 "-o", str(run), "--max-steps", "1", "--batch-size", "4", "--no-repeat-ngram-size", "2",
                 "--max-new-tokens", "6"]) == 0
    assert load_generation_config(run) == Decoding(max_new_tokens=6, num_beams=2, no_repeat_ngram_size=2)
    assert json.loads((run / "train_config.json").read_text())["generation"] == {"max_new_tokens": 6,
                                                                                 "no_repeat_ngram_size": 2}
    rerun = parse_args(["train", "--config", str(run / "train_config.json")])  # the saved run reruns as it was
    assert decoding_overrides(rerun) == {"max_new_tokens": 6, "no_repeat_ngram_size": 2}
    capsys.readouterr()
    assert main(["predict", str(run), XX[0], "--raw"]) == 0  # decoded with the saved settings
    assert isinstance(json.loads(capsys.readouterr().out)["output"], str)
    with pytest.raises(ConfigError, match="decoding"):
        get_task(task_file(tmp_path, decoding={"beams": 2}))


def harness_model():
    """layerbridge's harness model; with a stand-in for the harness's base class where it is not installed."""
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        stub = types.ModuleType("lm_eval")
        api, model, registry = (types.ModuleType(f"lm_eval.{n}") for n in ("api", "api.model", "api.registry"))
        model.LM = type("LM", (), {"__init__": lambda self: None})
        registry.register_model = lambda name: (lambda cls: cls)
        modules = {"lm_eval": stub, "lm_eval.api": api, "lm_eval.api.model": model, "lm_eval.api.registry": registry}
        saved = {name: sys.modules.get(name) for name in [*modules, "layerbridge.integrations.lm_eval"]}
        sys.modules.update(modules)
        try:
            sys.modules.pop("layerbridge.integrations.lm_eval", None)
            return importlib.import_module("layerbridge.integrations.lm_eval").LayerBridgeLM
        finally:  # nothing of the stand-in stays for the other tests
            for name, module in saved.items():
                sys.modules.pop(name, None) if module is None else sys.modules.__setitem__(name, module)
    return importlib.import_module("layerbridge.integrations.lm_eval").LayerBridgeLM


def test_lm_eval_generate_until_uses_the_saved_settings_and_records_them(models, tmp_path):
    saved_bridge(models, tmp_path / "b", TUNED)
    model = harness_model()(str(tmp_path / "b"), batch_size=4)
    seen = spy_generate(model.bridge)
    requests = [types.SimpleNamespace(args=(text, {"until": ["\n"]}), task_name="t") for text in XX]
    outputs = model.generate_until(requests, disable_tqdm=True)
    assert len(outputs) == 3 and (seen[-1].num_beams, seen[-1].no_repeat_ngram_size, seen[-1].max_new_tokens) == (
        2, 2, 7)
    record = model.generation_record()
    assert record["source"] == "generation_config.json" and record["num_beams"] == 2 and record["max_new_tokens"] == 7
    explicit = harness_model()(str(tmp_path / "b"), batch_size=4, max_gen_toks=4)
    assert explicit.generation_record()["max_new_tokens"] == 4


def test_compare_evaluates_with_the_settings_its_bridges_are_saved_with():
    """compare on flores_en without decoding flags decodes as its trained bridges will be saved to
    decode (the task's tuned settings), not with the bare greedy defaults; a flag still wins."""
    from layerbridge.cli.compare_cmd import build_compare_config
    from layerbridge.cli.main import parse_args
    from layerbridge.decoding import tuned_decoding
    from layerbridge.tasks import get_task

    args = parse_args(["compare", "--task", "flores_en", "-o", "runs/x"])
    cfg = build_compare_config(args, languages=["eng_Latn"])
    saved = tuned_decoding(get_task("flores_en"), cfg.train.generation)
    assert cfg.decoding.max_new_tokens == saved.max_new_tokens == 80
    assert cfg.decoding.no_repeat_ngram_size == saved.no_repeat_ngram_size == 3
    args = parse_args(["compare", "--task", "flores_en", "-o", "runs/x", "--max-new-tokens", "40"])
    assert build_compare_config(args, languages=["eng_Latn"]).decoding.max_new_tokens == 40


def test_saved_sampling_can_be_turned_off_from_the_command_line():
    """--no-sample: greedy whatever the bridge was saved with (a saved do_sample would otherwise stick)."""
    from layerbridge.cli.options import decoding_from_args

    saved = Decoding(do_sample=True, temperature=1.5)
    args = parse_args(["evaluate", "runs/b", "--no-sample", "--num-beams", "4"])
    decoding = decoding_from_args(args, saved=saved)
    assert decoding.do_sample is False and decoding.num_beams == 4
    assert decoding_from_args(parse_args(["evaluate", "runs/b"]), saved=saved).do_sample is True


def test_compare_saves_the_decoding_it_evaluates_with_and_stops_keep_their_characters():
    """compare's decoding flags are recorded for its bridges (TrainConfig.generation), as train's are;
    a non-ASCII stop string stays itself, an escaped newline is a newline."""
    from layerbridge.cli.compare_cmd import build_compare_config

    args = parse_args(["compare", "--task", "flores_en", "-o", "runs/x", "--max-new-tokens", "40",
                       "--stop", "。", "--stop", "\\n"])
    cfg = build_compare_config(args, languages=["eng_Latn"])
    assert cfg.train.generation == {"max_new_tokens": 40, "stop": ("。", "\n")}
    assert cfg.decoding.max_new_tokens == 40 and cfg.decoding.stop == ("。", "\n")


def test_a_dev_set_in_several_languages_scores_each_and_keeps_their_mean(tmp_path, monkeypatch):
    """--dev-languages: the first `limit` rows of each language are scored on their own and the dev score
    is their mean (the outputs from a stand-in that lower-cases its input: one per row, in row order)."""
    from layerbridge.evaluation import generation
    from layerbridge.evaluation.text_metrics import chrf
    from layerbridge.tasks import Example
    from layerbridge.training.dev import dev_score

    monkeypatch.setattr(generation, "generate_texts", lambda bridge, texts, decoding: [t.lower() for t in texts])
    task = get_task(str(task_file(tmp_path)))
    dev = [Example(id=f"tiny/{lang}/dev/{i}", text=t.upper() if lang == "xx" else t, label=-1, lang=lang, target=t)
           for lang in ("xx", "en") for i, t in enumerate(EN[:3])]
    scores = dev_score(None, task, dev, 2, max_new_tokens=5)
    assert scores["dev_chrf_languages"] == {lang: pytest.approx(chrf([t.lower() for t in EN[:2]], EN[:2]))
                                            for lang in ("xx", "en")}
    dev[0] = Example(id="tiny/xx/dev/0", text="nothing alike", label=-1, lang="xx", target=EN[0])
    scores = dev_score(None, task, dev, 2, max_new_tokens=5)
    assert scores["dev_chrf_languages"]["xx"] == pytest.approx(chrf(["nothing alike", EN[1].lower()], EN[:2]))
    assert scores["dev_chrf"] == pytest.approx(sum(scores["dev_chrf_languages"].values()) / 2)
    assert list(dev_score(None, task, dev[3:], None, max_new_tokens=5)) == ["dev_chrf"]  # one language


def test_the_dev_score_during_training_decodes_as_evaluation_will(models, tmp_path):
    from layerbridge.tasks import Example
    from layerbridge.training.dev import dev_score

    bridge = saved_bridge(models, tmp_path / "b", TUNED)
    dev = [Example(id=f"tiny/en/dev/{i}", text=t, label=-1, lang="en", target=t) for i, t in enumerate(EN[:2])]
    task = get_task(str(task_file(tmp_path)))
    seen = spy_generate(bridge)
    assert list(dev_score(bridge, task, dev, None, max_new_tokens=5)) == ["dev_chrf"]
    # the saved settings (beams, no repeated 2-grams, 7 tokens), not greedy with the target length
    assert {(c.num_beams, c.no_repeat_ngram_size, c.max_new_tokens) for c in seen} == {(2, 2, 7)}
    bridge.generation_config = None  # a bridge saved with none: greedy up to the given length
    seen.clear()
    dev_score(bridge, task, dev, None, max_new_tokens=5)
    assert {(c.num_beams, c.no_repeat_ngram_size, c.max_new_tokens) for c in seen} == {(1, 0, 5)}
