"""End-to-end CLI runs on tiny random models and a tiny user task: train -> evaluate -> compare ->
predict, resume after a crash, 2 processes vs 1, refusals and bad options."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from layerbridge.cli.main import main
from layerbridge.training.config import TrainConfig
from layerbridge.bridge import BridgeConfig

from tiny_models import save_tiny_models

LABELS = ["Sports", "Political", "Science"]
EN = [
    ("The match ended with a late goal and the fans cheered.", "Sports"),
    ("The team won the cup after extra time.", "Sports"),
    ("Parliament passed the new budget after a long debate.", "Political"),
    ("The president met party leaders about the election.", "Political"),
    ("A new phone with a faster chip was released today.", "Science"),
    ("Scientists measured the speed of the new chip.", "Science"),
]
XX = [("ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය.", "Sports"), ("ජනාධිපති පක්ෂ නායකයින් හමුවිය.", "Political"),
      ("නව දුරකථනය අද නිකුත් විය.", "Science")]


def write_jsonl(path: Path, rows):
    path.write_text("".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n" for t, l in rows),
                    encoding="utf-8")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    enc, llm = save_tiny_models(root)
    data = root / "data"
    data.mkdir()
    write_jsonl(data / "en_train.jsonl", EN * 4)
    write_jsonl(data / "en_test.jsonl", EN)
    write_jsonl(data / "xx_test.jsonl", XX)
    task = root / "news.yaml"
    task.write_text(
        "name: tiny_news\nprompt: 'News: {text} Category: '\n"
        f"label_words: {json.dumps(LABELS)}\ntrain_language: en\nlanguages: [en, xx]\nlow_resource: [xx]\n"
        "files:\n  en: {train: data/en_train.jsonl, test: data/en_test.jsonl}\n  xx: {test: data/xx_test.jsonl}\n",
        encoding="utf-8",
    )
    common = ["--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3"]
    return root, common, task


def run_cli(args, capsys=None):
    code = main([str(a) for a in args])
    return code


def test_train_evaluate_predict_compare(setup, capsys, monkeypatch):
    root, common, task = setup
    run = root / "run"
    assert main(["train", *common, "-o", str(run), "--fusion", "global_softmax", "--max-steps", "4",
                 "--batch-size", "4", "--lr", "1e-2", "--checkpoint-every", "2"]) == 0
    for name in ("bridge.safetensors", "bridge_config.json", "train_config.json", "train_log.jsonl", "train_summary.json"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoint").exists()
    log = [json.loads(l) for l in (run / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and "dev_accuracy" in log[-1] and len(log[-1]["global_weights"]) == 4
    saved = TrainConfig.load(run)
    assert saved.learning_rate == 1e-2 and saved.betas == (0.8, 0.999) and saved.bridge.fusion == "global_softmax"

    for mode in ("rank", "generate"):
        assert main(["evaluate", str(run), "--mode", mode]) == 0
        result = json.loads((run / f"eval-tiny_news-{mode}" / "results.json").read_text())
        assert set(result["languages"]) == {"en", "xx"}
        assert result["languages"]["xx"]["n"] == 3
        assert sum(map(sum, result["languages"]["en"]["confusion"])) == len(EN)
        if mode == "rank":
            assert result["languages"]["en"]["invalid"] == 0
        assert (run / f"eval-tiny_news-{mode}" / "results.csv").read_text().startswith("language,")
        assert (run / f"eval-tiny_news-{mode}" / "predictions" / "xx.jsonl").is_file()

    capsys.readouterr()
    assert main(["predict", str(run), "A late goal won the match.", "ජනාධිපති"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(l["label"] in LABELS for l in lines)
    inputs = root / "in.jsonl"
    inputs.write_text('{"text": "The cup final"}\n{"text": "නව දුරකථනය"}\n{"text": "Budget vote"}\n', encoding="utf-8")
    assert main(["predict", str(run), "-i", str(inputs), "--batch-size", "2"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["text"] for l in lines] == ["The cup final", "නව දුරකථනය", "Budget vote"]
    assert main(["predict", str(run), "A late goal.", " "]) == 2  # an empty text is refused, not answered
    assert "text argument 2 is empty" in capsys.readouterr().err
    inputs.write_text('{"text": "The cup final"}\n{"text": ""}\n', encoding="utf-8")
    assert main(["predict", str(run), "-i", str(inputs)]) == 2
    assert f"{inputs}:2:" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("first text\nsecond text\n"))
    assert main(["predict", str(run), "--mode", "generate"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    compare = root / "compare"
    assert main(["compare", *common, "-o", str(compare), "--fusions", "last,token_softmax[init=last]", "--max-steps", "3",
                 "--batch-size", "4", "--fusion-option", "token_softmax.gate_ffn_size=16"]) == 0
    document = json.loads((compare / "compare.json").read_text())
    assert list(document["runs"]) == ["last", "token_softmax[init=last]"]
    assert document["low_resource"] == ["xx"]
    references = document["references"]
    assert "probe: last layer" in references and set(references["probe: last layer"]["accuracy"]) == {"en", "xx"}
    alone = json.loads((compare / "llm_alone" / "bridge_config.json").read_text())
    assert alone["encoder"].startswith("llm-embeddings:") and alone["soft_prompt_length"] == 16
    assert set(references["LLM alone"]["accuracy"]) == {"en", "xx"}
    options = json.loads((compare / "token_softmax-init=last" / "bridge_config.json").read_text())["fusion_options"]
    assert options == {"init": "last", "gate_ffn_size": 16}
    for png in ("accuracy.png", "token_softmax-init=last_layer_weights.png"):
        assert (compare / "plots" / png).stat().st_size > 1000
    html = (compare / "report.html").read_text()
    assert "<table>" in html and "plots/accuracy.png" in html
    # a second run reuses the finished runs and their evaluations instead of training or evaluating again
    mtime = (compare / "last" / "bridge.safetensors").stat().st_mtime
    evaluated = (compare / "last" / "eval-rank" / "results.json").stat().st_mtime
    assert main(["compare", *common, "-o", str(compare), "--fusions", "last,token_softmax[init=last]", "--max-steps", "3",
                 "--batch-size", "4", "--fusion-option", "token_softmax.gate_ffn_size=16"]) == 0
    assert (compare / "last" / "bridge.safetensors").stat().st_mtime == mtime
    assert (compare / "last" / "eval-rank" / "results.json").stat().st_mtime == evaluated
    assert json.loads((compare / "compare.json").read_text())["runs"]["last"]["results"] == document["runs"]["last"]["results"]
    # fewer test examples: the same bridges, evaluated again
    assert main(["compare", *common, "-o", str(compare), "--fusions", "last", "--max-steps", "3", "--batch-size", "4",
                 "--eval-limit", "2", "--references", ""]) == 0
    assert (compare / "last" / "eval-rank" / "results.json").stat().st_mtime > evaluated
    assert {r["n"] for r in json.loads((compare / "compare.json").read_text())["runs"]["last"]["results"].values()} == {2}


def test_refuses_to_overwrite_without_flag(setup, capsys):
    root, common, _ = setup
    out = root / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    args = ["train", *common, "-o", str(out), "--fusion", "last", "--max-steps", "1", "--batch-size", "4"]
    assert main(args) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    assert main(args + ["--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "bridge.safetensors").is_file()


@pytest.mark.parametrize("extra, message", [
    (["--fusion-option", "heads=2"], "no option"),
    (["--fusion-option", "novalue"], "KEY=VALUE"),
    (["--layers", "top"], "--layers"),
    (["--lr", "-1"], "learning_rate"),
    (["--task", "no_such_task"], "no_such_task"),
    (["--paper", "--normalize", "layernorm"], "--paper fixes the fusion settings; drop --normalize"),
    (["--paper", "--layers", "upper_half", "--normalize", "none"], "drop --layers, --normalize"),
])
def test_bad_options_are_rejected_clearly(setup, capsys, extra, message):
    root, common, _ = setup
    code = main(["train", *common, "-o", str(root / "bad"), "--max-steps", "1", *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_paper_flag_trains_the_papers_configuration(setup):
    root, common, _ = setup
    out = root / "paper"
    assert main(["train", *common, "-o", str(out), "--fusion", "last", "--paper", "--max-steps", "1",
                 "--batch-size", "4"]) == 0
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["bridge"]["fusion"] == "token_softmax" and saved["preset"] == "paper"
    assert saved["learning_rate"] == 3e-5 and saved["bridge"]["normalize"] == "none" and saved["bridge"]["layers"] == "all"


def test_training_reports_a_fusion_that_collapsed_onto_one_layer(setup, capsys):
    root, common, _ = setup
    args = [*common, "--fusion", "token_softmax", "--max-steps", "1", "--batch-size", "4", "--lr", "1e-6"]
    # a gate started with all its weight on the last layer (logit 50 against 0) has collapsed
    assert main(["train", *args, "-o", str(root / "collapsed"), "--fusion-option", "init=last",
                 "--fusion-option", "last_layer_logit=50"]) == 0
    summary = json.loads((root / "collapsed" / "train_summary.json").read_text())
    assert summary["dev_top_weight_per_token"] > 0.99 and summary["dev_layer_weights"][-1] > 0.99
    assert "has collapsed onto one layer" in capsys.readouterr().out
    # a gate that still mixes (logit 1 for the last layer) is not reported
    assert main(["train", *args, "-o", str(root / "mixing"), "--fusion-option", "init=last",
                 "--fusion-option", "last_layer_logit=1"]) == 0
    summary = json.loads((root / "mixing" / "train_summary.json").read_text())
    assert summary["dev_top_weight_per_token"] < 0.9 and abs(sum(summary["dev_layer_weights"]) - 1) < 1e-3
    assert "collapsed" not in capsys.readouterr().out


def test_disk_encoder_cache_trains_the_same_bridge(setup):
    root, common, _ = setup
    args = [*common, "--fusion", "global_softmax", "--max-steps", "3", "--batch-size", "4"]
    assert main(["train", *args, "-o", str(root / "ram-cache")]) == 0
    assert main(["train", *args, "-o", str(root / "disk-cache"), "--encoder-cache-dir", str(root / "slabs")]) == 0
    ram, disk = trained_weights(root / "ram-cache"), trained_weights(root / "disk-cache")
    assert ram.keys() == disk.keys() and all(torch.equal(ram[k], disk[k]) for k in ram)
    assert not list((root / "slabs").iterdir())  # the memory-mapped slabs are deleted after training


def trained_weights(folder: Path) -> dict:
    return load_file(folder / "bridge.safetensors")


def test_resume_after_crash_ends_where_an_uninterrupted_run_ends(setup):
    from layerbridge.training.recipe import train

    root, common, task = setup
    enc, llm = root / "tiny-encoder", root / "tiny-llm"

    def config(out):  # token_softmax: its gate's dropout makes the RNG state matter too
        return TrainConfig(task=str(task), output_dir=str(out), dev_size=3, batch_size=4, learning_rate=1e-2,
                           max_steps=7, checkpoint_every=2, log_every=1,
                           bridge=BridgeConfig(encoder=str(enc), llm=str(llm), fusion="token_softmax"))

    train(config(root / "straight"))

    class Killed(Exception):
        pass

    def crash(step):
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train(config(root / "crashed"), on_step=crash)
    state = json.loads((root / "crashed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4  # the last checkpoint before the crash
    train(config(root / "crashed"), resume=True)
    straight, resumed = trained_weights(root / "straight"), trained_weights(root / "crashed")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    log = [json.loads(l)["step"] for l in (root / "crashed" / "train_log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 8))


def test_two_processes_match_one_process(setup):
    """Same global batch (4) on 1 process and on 2 gloo processes (2 each): same weights within 1e-4 (float summation order differs across processes; Adam amplifies it slightly)."""
    root, common, _ = setup
    args = ["train", *common, "--fusion", "global_softmax", "--max-steps", "3", "--batch-size", "4",
            "--lr", "1e-2", "--fusion-option", "init=last"]
    assert main(args + ["-o", str(root / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "layerbridge.cli.main", *args, "-o", str(root / "two")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert json.loads((root / "two" / "train_summary.json").read_text())["processes"] == 2
    one, two = trained_weights(root / "one"), trained_weights(root / "two")
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-4, rtol=1e-4), (key, (one[key] - two[key]).abs().max())


def test_demo_on_a_classification_task_keeps_the_probe_reference(setup, tmp_path, capsys):
    root, common, task = setup
    out = tmp_path / "demo"
    assert main(["demo", *common, "--languages", "en,xx", "--max-steps", "2", "--batch-size", "4",
                 "--mixed-precision", "no", "-o", str(out)]) == 0
    document = json.loads((out / "compare.json").read_text())
    assert document["metric"] == "accuracy" and list(document["runs"]) == ["global_softmax"]
    assert {name for name in document["references"]} >= {"probe: last layer"} and "LLM alone" not in document["references"]
    assert "accuracy" in capsys.readouterr().out
