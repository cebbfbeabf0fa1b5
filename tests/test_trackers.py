"""Experiment trackers (--report-to): a tiny training with TensorBoard writes event files that hold,
per logged step, what train_log.jsonl holds (loss, lr, gradient norm, weight entropy, the global layer
weights, the dev score) and the run's config as hyper-parameters; tracking changes neither the log nor
the weights; a resumed run logs each step once; a missing tracker package is a clear error; `none`
writes nothing."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from safetensors.torch import load_file

from layerbridge.cli.main import main
from layerbridge.errors import ConfigError
from layerbridge.training.config import TrainConfig
from layerbridge.training.recipe import fit, setup
from layerbridge.training.tracking import hyperparameters, log_entry, parse_report_to

from tiny_models import save_tiny_models, save_tiny_news

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

@pytest.fixture(scope="module")
def common(tmp_path_factory):
    root = tmp_path_factory.mktemp("trackers")
    enc, llm = save_tiny_models(root)
    task = save_tiny_news(root, sinhala=False)
    return ["--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3",
            "--fusion", "global_softmax", "--max-steps", "4", "--batch-size", "4", "--lr", "1e-2",
            "--eval-every", "1", "--checkpoint-every", "2"]


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def scalars(run: Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} of the run's TensorBoard event files."""
    acc = EventAccumulator(str(run / "tracking" / "layerbridge"))
    acc.Reload()
    got = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    assert all(len({step for step, _ in events}) == len(events) for events in got.values()), got  # each step once
    return {tag: dict(events) for tag, events in got.items()}


def hparams(run: Path) -> dict:
    """The hyper-parameters of the run's TensorBoard hparams summary (accelerate writes it in a subfolder)."""
    folders = {p.parent for p in (run / "tracking" / "layerbridge").glob("*/events.out.tfevents.*")}
    assert len(folders) == 1, folders
    acc = EventAccumulator(str(folders.pop()))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}


def test_tensorboard_logs_what_the_log_holds(common, tmp_path):
    plain, tracked = tmp_path / "plain", tmp_path / "tracked"
    assert main(["train", *common, "-o", str(plain)]) == 0
    assert main(["train", *common, "-o", str(tracked), "--report-to", "tensorboard"]) == 0
    assert not (plain / "tracking").exists()  # no tracker: nothing written
    # tracking changes neither the log nor the weights
    log = read_log(tracked)
    assert log == read_log(plain)
    assert all((load_file(plain / "bridge.safetensors")[k] == v).all()
               for k, v in load_file(tracked / "bridge.safetensors").items())
    assert TrainConfig.load(tracked).report_to == ["tensorboard"] and TrainConfig.load(plain).report_to == []

    got = scalars(tracked)
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    for e in log:
        step = e["step"]
        assert got["train/loss"][step] == pytest.approx(e["loss"], rel=1e-6)
        assert got["train/lr"][step] == pytest.approx(e["lr"], rel=1e-6)
        assert got["train/grad_norm"][step] == pytest.approx(e["grad_norm"], rel=1e-6)
        assert got["train/weight_entropy"][step] == pytest.approx(e["weight_entropy"], rel=1e-6)
        assert got["dev/accuracy"][step] == pytest.approx(e["dev_accuracy"], rel=1e-6)
        weights = [got[f"layer_weight/layer_{layer}"][step] for layer in range(1, 5)]  # fused hidden states 1-4
        assert weights == pytest.approx(e["global_weights"], rel=1e-6)
    print(f"read back: tag train/loss, step 4, value {got['train/loss'][4]!r} (train_log.jsonl: {log[-1]['loss']})")

    params = hparams(tracked)
    assert params["learning_rate"] == pytest.approx(1e-2) and params["batch_size"] == 4
    assert params["bridge.fusion"] == "global_softmax" and params["report_to"] == '["tensorboard"]'
    assert params["max_steps"] == 4 and params["run_name"] == "none"


def test_resumed_run_logs_each_step_once(common, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(["train", *common, "-o", str(whole), "--report-to", "tensorboard"]) == 0
    cfg = TrainConfig.load(whole)
    cfg.output_dir = str(killed)
    run = setup(cfg)
    for done in fit(run):  # killed after step 3: its checkpoint is at step 2, step 3 was logged
        if done == 3:
            break
    del run
    assert main(["train", *common, "-o", str(killed), "--report-to", "tensorboard", "--resume"]) == 0
    assert read_log(killed) == read_log(whole)
    got, expected = scalars(killed), scalars(whole)
    assert got["train/loss"] == pytest.approx(expected["train/loss"], rel=1e-6)  # steps 1-4, each once
    assert sorted(got["train/loss"]) == [1, 2, 3, 4]
    assert len(list((killed / "tracking" / "layerbridge").glob("*/events.out.tfevents.*"))) == 1  # hparams once


def test_compare_one_tracker_run_per_compared_run(common, tmp_path):
    out = tmp_path / "cmp"
    args = [a for a in common if a not in ("--fusion", "global_softmax")]
    assert main(["compare", *args, "-o", str(out), "--fusions", "last,global_softmax[init=last]", "--references", "",
                 "--max-steps", "2", "--report-to", "tensorboard"]) == 0
    for folder, name in (("last", "last"), ("global_softmax-init=last", "global_softmax[init=last]")):
        assert sorted(scalars(out / folder)["train/loss"]) == [1, 2]
        assert hparams(out / folder)["run_name"] == name


def test_report_to_values_and_missing_package(common, tmp_path, monkeypatch, capsys):
    assert parse_report_to("none") == [] and parse_report_to(["tensorboard,wandb", "tensorboard"]) == [
        "tensorboard", "wandb"]
    with pytest.raises(ConfigError, match="unknown tracker"):
        TrainConfig(report_to=["tensorbord"])
    assert all(isinstance(v, (bool, int, float, str)) for v in hyperparameters(TrainConfig()).values())
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if the package were not installed
    assert main(["train", *common, "-o", str(tmp_path / "w"), "--report-to", "tensorboard,wandb"]) == 2
    err = capsys.readouterr().err
    assert "--report-to wandb: the wandb package is not installed" in err and "pip install 'layerbridge[wandb]'" in err
    assert not (tmp_path / "w").exists()  # refused before anything is written
    assert main(["train", *common, "-o", str(tmp_path / "none"), "--report-to", "none", "--max-steps", "1"]) == 0
    assert not (tmp_path / "none" / "tracking").exists()


def test_a_dev_score_per_language_goes_to_the_trackers_as_scalars():
    """--dev-languages logs a dict of scores; trackers take scalars: dev/chrf and dev/chrf_<language>."""
    logged = []
    run = SimpleNamespace(cfg=SimpleNamespace(report_to=["tensorboard"]), bridge=SimpleNamespace(layer_indices=[]),
                          accelerator=SimpleNamespace(log=lambda values, step: logged.append((step, values))))
    log_entry(run, {"step": 3, "loss": 1.5, "dev_chrf": 30.0, "dev_chrf_languages": {"swh_Latn": 40.0, "hin_Deva": 20.0}})
    assert logged == [(3, {"train/loss": 1.5, "dev/chrf": 30.0, "dev/chrf_swh_Latn": 40.0, "dev/chrf_hin_Deva": 20.0})]
