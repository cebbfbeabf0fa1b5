"""End-to-end CLI runs on tiny random models and a tiny user task: train -> evaluate -> compare ->
predict, resume after a crash, 2 processes vs 1, refusals and bad options."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from layerbridge.cli.main import main
from layerbridge.training.config import TrainConfig
from layerbridge.bridge import BridgeConfig

from tiny_models import EN, LABELS, save_tiny_models, save_tiny_news


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    enc, llm = save_tiny_models(root)
    task = save_tiny_news(root)
    common = ["--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3"]
    return root, common, task


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
    assert 0 < log[-1]["weight_entropy"] <= __import__("math").log(4) + 1e-6  # nats, per token, over the batch
    saved = TrainConfig.load(run)
    assert saved.learning_rate == 1e-2 and saved.betas == (0.8, 0.999) and saved.bridge.fusion == "global_softmax"

    for mode in ("rank", "generate"):
        assert main(["evaluate", str(run), "--mode", mode]) == 0
        result = json.loads((run / f"eval-tiny_news-{mode}" / "results.json").read_text())
        assert set(result["languages"]) == {"en", "xx"}
        assert result["languages"]["xx"]["n"] == 3
        assert sum(map(sum, result["languages"]["en"]["confusion"])) == len(EN)
        assert (run / f"eval-tiny_news-{mode}" / "results.csv").read_text().startswith("language,")
        for lang, scores in result["languages"].items():  # the metrics are those of the written predictions
            rows = [json.loads(l) for l in (run / f"eval-tiny_news-{mode}" / "predictions" / f"{lang}.jsonl")
                    .read_text(encoding="utf-8").splitlines()]
            assert len(rows) == scores["n"]
            assert scores["accuracy"] == pytest.approx(sum(r["gold"] == r["pred"] for r in rows) / len(rows))
            assert scores["invalid"] == sum(r["pred"] not in LABELS for r in rows)

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
    assert set(document["runs"]["token_softmax[init=last]"]["weight_entropy"]) == {"en", "xx"}
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
    # a copied run folder (newer file times, another path) is the same bridge: its evaluation is reused
    moved = root / "moved"
    shutil.copytree(compare / "last", moved / "last")
    os.utime(moved / "last" / "bridge.safetensors")  # as `cp -r` leaves it: the weights newer than the results
    copied = (moved / "last" / "eval-rank" / "results.json").stat().st_mtime
    assert main(["compare", *common, "-o", str(moved), "--fusions", "last", "--max-steps", "3", "--batch-size", "4",
                 "--references", ""]) == 0
    assert (moved / "last" / "eval-rank" / "results.json").stat().st_mtime == copied
    weights = load_file(moved / "last" / "bridge.safetensors")  # other weights under the same name: evaluated again
    save_file({k: v + 0.01 for k, v in weights.items()}, moved / "last" / "bridge.safetensors")
    os.utime(moved / "last" / "bridge.safetensors", ns=(0, 0))  # even if their file looks older
    assert main(["compare", *common, "-o", str(moved), "--fusions", "last", "--max-steps", "3", "--batch-size", "4",
                 "--references", ""]) == 0
    assert (moved / "last" / "eval-rank" / "results.json").stat().st_mtime > copied
    # fewer test examples: the same bridges, evaluated again
    assert main(["compare", *common, "-o", str(compare), "--fusions", "last", "--max-steps", "3", "--batch-size", "4",
                 "--eval-limit", "2", "--references", ""]) == 0
    assert (compare / "last" / "eval-rank" / "results.json").stat().st_mtime > evaluated
    assert {r["n"] for r in json.loads((compare / "compare.json").read_text())["runs"]["last"]["results"].values()} == {2}


def test_compare_chooses_each_runs_learning_rate_on_english_dev(setup):
    root, common, _ = setup
    out = root / "grid"
    assert main(["compare", *common, "--fusions", "last,global_softmax", "--lr-grid", "1e-4,3e-2", "--max-steps", "3",
                 "--batch-size", "4", "--references", "", "-o", str(out)]) == 0
    document = json.loads((out / "compare.json").read_text())
    for name, run in document["runs"].items():
        grid = run["lr_grid"]
        assert set(grid) == {"0.0001", "0.03"}
        for lr in grid:  # every learning rate trained in its own folder, its dev score kept
            summary = json.loads((out / name / f"lr-{lr}" / "train_summary.json").read_text())
            assert summary["dev_accuracy"] == grid[lr]
        best = max(grid.values())
        assert grid[f"{run['chosen_lr']:g}"] == best and run["chosen_lr"] == [float(lr) for lr in grid if grid[lr] == best][0]
        assert TrainConfig.load(out / name / f"lr-{run['chosen_lr']:g}").learning_rate == run["chosen_lr"]
    assert "Learning rate chosen per run" in (out / "report.md").read_text()
    assert main(["compare", *common, "--lr-grid", "1e-3,x", "-o", str(root / "bad")]) == 2


def test_keep_best_saves_the_best_dev_weights(setup):
    """--keep-best with --eval-every: the saved bridge is the one of the best English dev score (its
    dev accuracy, recomputed, is the best in the log), not the last; the same run without the flag
    saves the last weights."""
    from layerbridge.bridge import LayerBridge
    from layerbridge.tasks import get_task, load_train_dev
    from layerbridge.training.dev import dev_score

    root, common, task_file = setup
    args = [*common, "--fusion", "global_softmax", "--max-steps", "8", "--batch-size", "4", "--lr", "5e-2",
            "--eval-every", "1"]
    assert main(["train", *args, "--keep-best", "-o", str(root / "best")]) == 0
    assert main(["train", *args, "-o", str(root / "last")]) == 0
    summary = json.loads((root / "best" / "train_summary.json").read_text())
    log = [json.loads(line) for line in (root / "best" / "train_log.jsonl").read_text().splitlines()]
    scores = {e["step"]: e["dev_accuracy"] for e in log if "dev_accuracy" in e}
    assert len(scores) == 8 and summary["dev_accuracy"] == max(scores.values())
    assert summary["best_step"] == min(step for step, v in scores.items() if v == max(scores.values()))
    assert summary["last_dev_accuracy"] == scores[8] and not (root / "best" / "best-dev").exists()
    task = get_task(str(task_file))
    _, dev = load_train_dev(task, dev_size=3, seed=0)
    bridge = LayerBridge.from_pretrained(root / "best")
    assert dev_score(bridge, task, dev, None, 8) == {"dev_accuracy": pytest.approx(summary["dev_accuracy"], abs=1e-4)}
    best, last = load_file(root / "best" / "bridge.safetensors"), load_file(root / "last" / "bridge.safetensors")
    assert (summary["best_step"] == 8) == all(torch.equal(best[k], last[k]) for k in best)
    assert main(["train", *common, "--keep-best", "--max-steps", "1", "-o", str(root / "no-eval")]) == 2  # needs --eval-every


def test_compare_runs_injections_and_projectors_beside_fusions(setup, capsys):
    """Variants may change how the encoder reaches the LLM: LayAlign's cross-attention and the
    Perceiver projector run side by side with a plain fusion; inspect counts their parameters."""
    root, common, _ = setup
    out = root / "designs"
    variants = ("global_softmax,global_softmax[injection=cross_attention],"
                "global_softmax[projector=perceiver;projector.latents=4;projector.heads=2]")
    assert main(["compare", *common, "--fusions", variants, "--max-steps", "2", "--batch-size", "4",
                 "--references", "", "-o", str(out)]) == 0
    document = json.loads((out / "compare.json").read_text())
    assert list(document["runs"]) == variants.split(",")
    from layerbridge.io import slug

    configs = [BridgeConfig.load(out / slug(name)) for name in document["runs"]]
    assert [(c.injection, c.projector, c.projector_options) for c in configs] == [
        ("input", "linear", {}), ("cross_attention", "linear", {}), ("input", "perceiver", {"latents": 4, "heads": 2})]
    assert document["bridge_overrides"]["global_softmax[injection=cross_attention]"] == {
        "injection": "cross_attention", "injection_options": {}}
    capsys.readouterr()
    assert main(["inspect", *common[:4], "--injection", "cross_attention"]) == 0  # --encoder, --llm
    assert "injection" in capsys.readouterr().out
    assert main(["compare", *common, "--fusions", "last[projector.latents=4]", "-o", str(root / "bad-variant")]) == 2
    assert main(["compare", *common, "--fusions", "last,last[injection=cross_atention]", "-o", str(root / "typo")]) == 2
    assert not (root / "typo").exists()  # refused before the first run trained
    # the base design's options stay with it; the reference rows read the plain path
    out = root / "base-perceiver"
    assert main(["compare", *common, "--projector", "perceiver", "--projector-option", "latents=3",
                 "--projector-option", "heads=2", "--injection", "cross_attention", "--fusions",
                 "global_softmax,global_softmax[projector=linear]", "--references", "llm_alone",
                 "--max-steps", "1", "--batch-size", "4", "-o", str(out)]) == 0
    assert BridgeConfig.load(out / slug("global_softmax[projector=linear]")).projector_options == {}
    alone = BridgeConfig.load(out / "llm_alone")
    assert (alone.injection, alone.projector, alone.projector_options) == ("input", "linear", {})


@pytest.mark.parametrize("extra", [
    ["--fusion", "global_softmax", "--fusion-option", "parameterisation=plain"],
    ["--fusion", "global_softmax", "--fusion-option", "learn_temperature=false"],
    ["--fusion", "last", "--injection", "cross_attention"],
    ["--fusion", "token_softmax", "--projector", "perceiver", "--projector-option", "heads=2"],
])
def test_every_design_trained_by_the_recipe_loads_back(setup, tmp_path, extra):
    """What the recipe saves (weights gathered as for several processes) is every weight and buffer
    the bridge needs: a saved run of each design loads and scores."""
    from layerbridge.bridge import LayerBridge

    _, common, _ = setup
    out = tmp_path / "run"
    assert main(["train", *common, *extra, "--max-steps", "2", "--batch-size", "4", "-o", str(out)]) == 0
    bridge = LayerBridge.from_pretrained(out)
    assert set(load_file(out / "bridge.safetensors")) == set(bridge.trainable_state_dict())
    assert torch.isfinite(bridge.score(["The cup final."], LABELS)).all()


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


def test_disk_encoder_cache_trains_the_same_bridge(setup, monkeypatch, capsys):
    """A cache in a file (asked for, or over --encoder-cache-gb: under the temporary folder) trains
    the same bridge as one in RAM, and its file is deleted after training."""
    import tempfile

    root, common, _ = setup
    args = [*common, "--fusion", "global_softmax", "--max-steps", "3", "--batch-size", "4"]
    assert main(["train", *args, "-o", str(root / "ram-cache")]) == 0
    assert "kept in a file" not in capsys.readouterr().out
    assert main(["train", *args, "-o", str(root / "disk-cache"), "--encoder-cache-dir", str(root / "slabs")]) == 0
    (root / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root / "tmp"))
    opened = []
    monkeypatch.setattr("builtins.open", lambda f, *a, _open=open, **k: opened.append(str(f)) or _open(f, *a, **k))
    assert main(["train", *args, "-o", str(root / "spilled-cache"), "--encoder-cache-gb", "0"]) == 0
    assert f"over --encoder-cache-gb 0: kept in a file under {root / 'tmp'}" in capsys.readouterr().out
    assert any(f.startswith(str(root / "tmp")) and f.endswith("states.bin") for f in opened)
    ram = trained_weights(root / "ram-cache")
    for folder in ("disk-cache", "spilled-cache"):
        disk = trained_weights(root / folder)
        assert ram.keys() == disk.keys() and all(torch.equal(ram[k], disk[k]) for k in ram)
    assert not list((root / "slabs").iterdir()) and not list((root / "tmp").iterdir())  # deleted after training


def trained_weights(folder: Path) -> dict:
    return load_file(folder / "bridge.safetensors")


def test_resume_after_crash_ends_where_an_uninterrupted_run_ends(setup):
    """A run stopped after step 5 (its folder as a crash there leaves it: the step-4 checkpoint, no
    bridge) and resumed ends with the weights and log of a run never stopped."""
    from layerbridge.training.recipe import fit, setup as setup_run, train

    root, common, task = setup
    enc, llm = root / "tiny-encoder", root / "tiny-llm"

    def config(out):  # token_softmax: its gate's dropout makes the RNG state matter too
        return TrainConfig(task=str(task), output_dir=str(out), dev_size=3, batch_size=4, learning_rate=1e-2,
                           max_steps=7, checkpoint_every=2, log_every=1,
                           bridge=BridgeConfig(encoder=str(enc), llm=str(llm), fusion="token_softmax"))

    train(config(root / "straight"))

    run = setup_run(config(root / "crashed"))
    for step in fit(run):  # the recipe's own loop, left after step 5
        if step == 5:
            break
    del run
    assert not (root / "crashed" / "bridge.safetensors").exists()
    state = json.loads((root / "crashed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4  # the last checkpoint before the crash
    train(config(root / "crashed"), resume=True)
    straight, resumed = trained_weights(root / "straight"), trained_weights(root / "crashed")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    log = [json.loads(l)["step"] for l in (root / "crashed" / "train_log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 8))


def launch_two(args, script=None, timeout=600):
    """`accelerate launch` on 2 gloo CPU processes: the CLI, or a script taking the CLI's arguments."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    target = [str(script)] if script else ["-m", "layerbridge.cli.main"]
    return subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *target, *map(str, args)],
        capture_output=True, text=True, env=env, timeout=timeout,
    )


TWO_PROCESS_RUNS = {"last": [], "global_softmax": ["--fusion-option", "init=last"],
                    "token_softmax": ["--fusion-option", "gate_ffn_size=16"]}  # token_softmax keeps its dropout (0.1)


@pytest.mark.parametrize("fusion", list(TWO_PROCESS_RUNS))
def test_two_processes_match_one_process(setup, fusion):
    """Same global batch (4) and micro-batches (2) on 1 process and on 2 gloo processes: the same
    dropout, and the same weights within 1e-5 (float summation order differs across processes)."""
    root, common, _ = setup
    args = ["train", *common, "--fusion", fusion, *TWO_PROCESS_RUNS[fusion], "--max-steps", "3", "--batch-size", "4",
            "--micro-batch-size", "2", "--lr", "1e-2", "--eval-every", "2", "--checkpoint-every", "2"]
    assert main(args + ["-o", str(root / f"one-{fusion}")]) == 0
    launched = launch_two(args + ["-o", root / f"two-{fusion}"])
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert json.loads((root / f"two-{fusion}" / "train_summary.json").read_text())["processes"] == 2
    one, two = trained_weights(root / f"one-{fusion}"), trained_weights(root / f"two-{fusion}")
    assert one.keys() == two.keys()
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5, rtol=1e-5), (key, (one[key] - two[key]).abs().max())
    logs = [[json.loads(line) for line in (root / f"{n}-{fusion}" / "train_log.jsonl").read_text().splitlines()]
            for n in ("one", "two")]
    assert [e.get("dev_accuracy") for e in logs[0]] == [e.get("dev_accuracy") for e in logs[1]]  # dev scored by both ranks


def test_two_processes_train_an_unfrozen_encoder_that_leaves_parameters_unused(setup):
    """--unfreeze-encoder on 2 processes, fusing hidden states 1-2 of 4: the encoder's layers above
    them (like a pooler elsewhere) get no gradient, which DDP must be told of (find_unused_parameters)."""
    root, common, _ = setup
    args = ["train", *common, "--fusion", "global_softmax", "--layers", "1,2", "--unfreeze-encoder",
            "--max-steps", "2", "--batch-size", "4", "--lr", "1e-2"]
    launched = launch_two(args + ["-o", root / "two-unfrozen"])
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert json.loads((root / "two-unfrozen" / "train_summary.json").read_text())["processes"] == 2


def test_a_killed_two_process_run_resumes_to_the_same_weights(setup, tmp_path):
    root, common, _ = setup
    args = ["train", *common, "--fusion", "token_softmax", "--fusion-option", "gate_ffn_size=16", "--max-steps", "5",
            "--batch-size", "4", "--lr", "1e-2", "--checkpoint-every", "2"]
    killer = tmp_path / "killed_at_step_4.py"
    killer.write_text(
        "import sys\nimport layerbridge.training.recipe as recipe\nfrom layerbridge.cli.main import main\n"
        "step_once = recipe.train_step\n"
        "def train_step(run, step):\n    if step == 3:\n        raise SystemExit(9)  # every rank, after the step-2 checkpoint\n"
        "    return step_once(run, step)\n"
        "recipe.train_step = train_step\nsys.exit(main(sys.argv[1:]))\n")
    straight = launch_two(args + ["-o", tmp_path / "straight"])
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert launch_two(args + ["-o", tmp_path / "killed"], script=killer).returncode != 0
    state = json.loads((tmp_path / "killed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 2 and state["processes"] == 2
    assert {p.name for p in (tmp_path / "killed" / "checkpoint").iterdir()} >= {"rng_0.safetensors", "rng_1.safetensors"}
    shutil.copytree(tmp_path / "killed", tmp_path / "killed-on-one")
    resumed = launch_two(args + ["-o", tmp_path / "killed", "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = trained_weights(tmp_path / "straight"), trained_weights(tmp_path / "killed")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # resumed on ONE process: the checkpoint's micro-batches of 2 (not this run's default 4), so the same
    # dropout and global batches; equal within float summation order (issue 29, defect 9)
    assert main(args + ["-o", str(tmp_path / "killed-on-one"), "--resume"]) == 0
    c = trained_weights(tmp_path / "killed-on-one")
    for key in a:
        assert torch.allclose(a[key], c[key], atol=1e-5, rtol=1e-5), (key, (a[key] - c[key]).abs().max())


def test_compare_on_two_processes_writes_once_what_one_process_writes(setup):
    root, common, _ = setup
    args = ["compare", *common, "--fusions", "last,token_softmax", "--fusion-option", "token_softmax.gate_ffn_size=16",
            "--max-steps", "2", "--batch-size", "4", "--micro-batch-size", "2", "--references", "llm_alone,probe"]
    assert main(args + ["-o", str(root / "compare-one")]) == 0
    launched = launch_two(args + ["-o", root / "compare-two"])
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("report:") <= 1  # one process reports
    one, two = (json.loads((root / f"compare-{n}" / "compare.json").read_text()) for n in ("one", "two"))
    assert list(two["runs"]) == ["last", "token_softmax"] and set(two["references"]) == set(one["references"])
    for name in one["runs"]:  # the languages were shared out between the processes and gathered
        assert {l: r["accuracy"] for l, r in two["runs"][name]["results"].items()} == \
               {l: r["accuracy"] for l, r in one["runs"][name]["results"].items()}
        assert two["runs"][name]["train"]["processes"] == 2


def test_a_refusal_on_the_main_process_stops_every_process(setup, tmp_path):
    """The main process refuses to clobber a folder; the other process must stop too, not wait."""
    root, common, _ = setup
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("precious")
    launched = launch_two(["train", *common, "--fusion", "last", "--max-steps", "1", "-o", tmp_path / "taken"],
                          timeout=180)
    assert launched.returncode != 0 and "exists and is not empty" in launched.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("kind", ["FSDP", "DEEPSPEED"])
def test_sharded_training_is_refused_up_front_naming_what_is_supported(kind):
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from layerbridge.errors import ConfigError
    from layerbridge.training.refusals import refuse_sharded

    with pytest.raises(ConfigError, match="supported: one process, or DDP"):
        refuse_sharded(SimpleNamespace(distributed_type=getattr(DistributedType, kind)))


def test_demo_on_a_classification_task_keeps_the_probe_reference(setup, tmp_path, capsys):
    root, common, task = setup
    out = tmp_path / "demo"
    assert main(["demo", *common, "--languages", "en,xx", "--max-steps", "2", "--batch-size", "4",
                 "--mixed-precision", "no", "-o", str(out)]) == 0
    document = json.loads((out / "compare.json").read_text())
    assert document["metric"] == "accuracy" and list(document["runs"]) == ["global_softmax"]
    assert {name for name in document["references"]} >= {"probe: last layer"} and "LLM alone" not in document["references"]
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "fp32 precision" in printed  # the banner names the precision
    env = document["environment"]  # what the README's demo table says it ran on
    assert env["precision"] == "fp32" and env["cores"] >= 1 and env["cpu"] and document["seconds"] > 0


def test_variant_bridge_settings_are_split_from_fusion_options():
    from layerbridge.cli.compare_cmd import bridge_overrides

    options = {"projector": "perceiver", "projector_init": "default", "projector.latents": 4, "init": "last"}
    assert bridge_overrides(options, "v") == {"projector": "perceiver", "projector_init": "default",
                                              "projector_options": {"latents": 4}}
    assert options == {"init": "last"}  # what is left is the fusion's
    assert bridge_overrides({"injection": "cross_attention"}, "v") == {"injection": "cross_attention",
                                                                        "injection_options": {}}
    with pytest.raises(Exception, match="without projector=NAME"):
        bridge_overrides({"projector.latents": 4}, "v")


def test_every_process_ends_its_process_group(setup, tmp_path):
    """A process left with gloo's threads at interpreter exit can abort (CI saw rank 1 of a compare die:
    "terminate called without an active exception"); the CLI waits for every process, then ends the group."""
    root, common, _ = setup
    script = tmp_path / "then_look.py"
    script.write_text(
        "import os, sys\nimport torch.distributed as dist\nfrom layerbridge.cli.main import main\n"
        "code = main(sys.argv[1:])\nsys.stdout.flush()\n"
        # one write per process: the two share the pipe, and print's separate writes can interleave
        "os.write(1, f'process group left open: {dist.is_initialized()}\\n'.encode())\nsys.exit(code)\n")
    args = ["compare", *common, "--fusions", "last", "--max-steps", "1", "--batch-size", "4",
            "--references", "probe", "-o", tmp_path / "compare"]
    launched = launch_two(args, script=script)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("process group left open: False") == 2, launched.stdout[-3000:]


def test_compare_with_reference_rows_alone(setup, capsys):
    """`--fusions ''` with --references: the rows alone (e.g. the centred probe added to an earlier seed's
    comparison), nothing trained; without references it is refused."""
    root, common, _ = setup
    out = root / "references-only"
    assert main(["compare", *common, "-o", str(out), "--fusions", "", "--references", "probe,probe_centred"]) == 0
    document = json.loads((out / "compare.json").read_text())
    assert document["runs"] == {} and not any(p.is_dir() for p in out.iterdir() if p.name != "plots")
    rows = document["references"]
    assert {"probe: last layer", "probe, centred: last layer"} <= set(rows)
    for name in ("probe: last layer", "probe, centred: last layer"):
        assert set(rows[name]["accuracy"]) == {"en", "xx"}
    assert "probe, centred: last layer" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["compare", *common, "-o", str(root / "nothing"), "--fusions", "", "--references", ""]) == 2
    assert "--fusions: give at least one fusion" in capsys.readouterr().err


def test_max_steps_caps_and_says_when_the_epochs_stop_first(setup, capsys):
    """--max-steps is a cap: with fewer steps in --epochs the run trains those, and says so."""
    root, common, _ = setup
    out = root / "capped"
    capsys.readouterr()
    assert main(["train", *common, "--epochs", "1", "--max-steps", "1000", "--batch-size", "4", "-o", str(out)]) == 0
    steps = json.loads((out / "train_summary.json").read_text())["steps"]
    assert steps < 1000
    printed = capsys.readouterr().out
    assert "1 epochs of" in printed and f"are {steps} steps, fewer than --max-steps 1000: training {steps}" in printed


def test_the_compare_report_says_why_a_run_trained_fewer_steps_than_asked(setup):
    """A run that --epochs stopped before --max-steps is flagged in report.md's training table."""
    root, common, _ = setup
    out = root / "capped-compare"
    assert main(["compare", *common, "-o", str(out), "--fusions", "last", "--references", "", "--epochs", "1",
                 "--max-steps", "1000", "--batch-size", "4"]) == 0
    steps = json.loads((out / "compare.json").read_text())["runs"]["last"]["train"]["steps"]
    assert steps < 1000
    report = (out / "report.md").read_text()
    assert f" | {steps} (of --max-steps 1000: --epochs reached first) | " in report


def test_lr_grid_takes_spaced_lists_and_refuses_what_is_no_learning_rate():
    from layerbridge.cli.compare_cmd import parse_lr_grid
    from layerbridge.errors import ConfigError

    assert parse_lr_grid("1e-3, 3e-4,") == [1e-3, 3e-4]
    for bad in ("nan", "1e-3,inf", "0", "1e-3,1e-3", "-1e-3", " , "):
        with pytest.raises(ConfigError, match="--lr-grid"):
            parse_lr_grid(bad)
