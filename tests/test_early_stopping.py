"""Early stopping (`--early-stopping-patience N` with `--keep-best`): the loop ends after N English dev
scores in a row no better than the best, saves the best-dev weights, says where it stopped, and a killed run
resumes to the same stop."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.hub import model_card
from layerbridge.cli.main import main
from layerbridge.errors import ConfigError
from layerbridge.training.config import TrainConfig
from layerbridge.training.recipe import fit, setup, train
from layerbridge.training.summary import best_dev, read_log


def config(tiny, out, **changes):
    """A run whose dev accuracy cannot improve (lr 1e-9: the weights barely move), scored every step."""
    root, enc, llm, task = tiny
    values = dict(task=str(task), output_dir=str(out), dev_size=3, batch_size=4, learning_rate=1e-9, max_steps=12,
                  checkpoint_every=2, log_every=1, eval_every=1, keep_best=True, early_stopping_patience=2)
    return TrainConfig(**{**values, **changes},
                       bridge=BridgeConfig(encoder=str(enc), llm=str(llm), fusion="global_softmax"))


def first_stop(log: list[dict], patience: int) -> int:
    """The first step after which `patience` dev scores in a row were no better than the best so far (recomputed here)."""
    best, since = None, 0
    for entry in log:
        if "dev_accuracy" not in entry:
            continue
        if best is None or entry["dev_accuracy"] > best:
            best, since = entry["dev_accuracy"], 0
        else:
            since += 1
        if since >= patience:
            return entry["step"]
    raise AssertionError("the log never ran out of patience")


def test_stops_after_patience_and_keeps_the_best(tiny, tmp_path):
    out = train(config(tiny, tmp_path / "run"))
    log = read_log(out)
    stop = first_stop(log, 2)
    summary = json.loads((out / "train_summary.json").read_text())
    assert stop < 12 and log[-1]["step"] == stop  # no step after it was trained
    assert summary["steps"] == stop
    assert summary["stopped_early"] == {"step": stop, "max_steps": 12, "patience": 2}
    assert summary["best_step"] == best_dev(log)[0] < stop
    assert not (out / "checkpoint").exists() and not (out / "best-dev").exists()
    card = model_card(LayerBridge.from_pretrained(out), out)  # the pushed card says which weights these are
    assert f"{stop} steps" in card and f"those of step {summary['best_step']}" in card
    assert f"stopped early at step {stop} of 12 after 2" in card
    # the saved weights are those of the best step: a run of exactly that many steps ends with them
    # (the same schedule: max_steps, and so the learning rate at each step, is unchanged)
    shorter = tmp_path / "shorter"
    run = setup(config(tiny, shorter, early_stopping_patience=0, keep_best=False))
    for done in fit(run):
        if done == summary["best_step"]:
            run.checkpointer.save_bridge(run.bridge)
            break
    saved, best = load_file(out / "bridge.safetensors"), load_file(shorter / "bridge.safetensors")
    assert saved.keys() == best.keys() and all(torch.equal(saved[k], best[k]) for k in saved)


def test_a_killed_run_resumes_to_the_same_stop(tiny, tmp_path):
    whole = train(config(tiny, tmp_path / "whole"))
    cfg = config(tiny, tmp_path / "killed")
    run = setup(cfg)
    for done in fit(run):
        if done == 2:  # its checkpoint is written, the run is left as a crash leaves it
            break
    del run
    assert (Path(cfg.output_dir) / "checkpoint").is_dir()
    resumed = train(cfg, resume=True)
    assert read_log(resumed) == read_log(whole)
    a, b = load_file(whole / "bridge.safetensors"), load_file(resumed / "bridge.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = (json.loads((p / "train_summary.json").read_text()) for p in (whole, resumed))
    assert sa["stopped_early"] == sb["stopped_early"]


def test_patience_needs_keep_best_and_is_refused_negative(tiny, tmp_path, capsys):
    with pytest.raises(ConfigError, match="early_stopping_patience"):
        config(tiny, tmp_path / "x", keep_best=False)
    with pytest.raises(ConfigError, match="early_stopping_patience"):
        config(tiny, tmp_path / "x", early_stopping_patience=-1)
    root, enc, llm, task = tiny
    args = ["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3",
            "--max-steps", "2", "--eval-every", "1", "--early-stopping-patience", "1", "-o", str(tmp_path / "cli")]
    assert main(args) == 2  # without --keep-best
    assert "early_stopping_patience" in capsys.readouterr().err
