"""Training a comparison's bridge: train it once (or reuse the finished run, resume a killed one, or
take the weights of its centring twin), or once per learning rate of the lr grid keeping the best on
the dev set (English, or --dev-languages); then hand the trained bridge to every process."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.saving import load_trained_weights
from layerbridge.compare.twins import derive_from_twin, earlier_twin
from layerbridge.errors import ConfigError
from layerbridge.io import slug
from layerbridge.processes import main_decides, processes
from layerbridge.training.init_from import check_base_models, check_design, stage_one
from layerbridge.training.recipe import train
from layerbridge.training.summary import SUMMARY_NAME, summary_dev_score


def check_stage_one(cfg, models) -> None:
    """--init-from: every compared run starts from the stage-1 bridge, so each run's design and the
    loaded base models must fit its weights, and the task must not be one whose data the stage-1 bridge's
    training saw (it is evaluated on it); refused here, before any run trains."""
    if cfg.train.init_from is None:
        return
    from layerbridge.bridge.base_models import filled_config
    from layerbridge.bridge.lineage import refuse_seen
    from layerbridge.tasks import get_task

    stage = stage_one(cfg.train.init_from)
    refuse_seen(stage.config, get_task(cfg.train.task).name, bridge=f"a bridge started from {stage.source}")
    for name, bridge_cfg in cfg.runs.items():
        check_design(stage, bridge_cfg, run=f"the compared run {name!r}")
    check_base_models(stage, filled_config(cfg.train.bridge, models[0], models[2]))


def train_once(cfg, run_dir: Path, bridge_cfg: BridgeConfig, models, data, *, overwrite: bool,
               learning_rate: float | None = None) -> None:
    """Train one bridge into `run_dir`, or reuse the finished run there, or resume a killed one, or
    take the weights of an earlier run that differs only in center_languages (compare.twins)."""
    run_cfg = copy.deepcopy(dataclasses.replace(cfg.train, output_dir=str(run_dir), bridge=bridge_cfg))
    if learning_rate is not None:
        run_cfg.learning_rate = learning_rate
    run_cfg.run_name = tracker_run_name(cfg, run_dir)  # one tracker run per compared run (report_to)
    needed, resume = main_decides((not (run_dir / SUMMARY_NAME).is_file() or overwrite,
                                   run_dir.exists() and not overwrite and any(run_dir.iterdir())))
    if not needed:
        return
    twin = main_decides(earlier_twin(cfg, run_dir, bridge_cfg) if processes().is_main_process else None)
    if twin is not None:  # the same training as a run before it (compare.twins): not trained twice
        derive_from_twin(run_cfg, twin, models, data)
    else:
        train(run_cfg, models=models, data=data, overwrite=overwrite, resume=resume)


def tracker_run_name(cfg, run_dir: Path) -> str:
    """A compared run's name for the experiment trackers: the run's own ("token_softmax[init=last]",
    "llm_alone"), followed by its lr-grid folder ("lr-0.001") when it has one."""
    try:
        parts = run_dir.relative_to(cfg.train.output_dir).parts
    except ValueError:
        return run_dir.name
    names = {slug(name): name for name in cfg.runs}
    return " ".join([names.get(parts[0], parts[0]), *parts[1:]]) if parts else run_dir.name


def run_dev_score(run_dir: Path) -> float:
    """The dev score in a finished run's summary (accuracy, or chrF++ for generation: with --dev-languages
    their mean)."""
    summary = main_decides(json.loads((run_dir / SUMMARY_NAME).read_text()) if processes().is_main_process else None)
    score = summary_dev_score(summary)
    if score is None:
        raise ConfigError("--lr-grid chooses on the dev set, but this run has none (dev size 0)")
    return score


def train_with_lr_grid(cfg, run_dir: Path, bridge_cfg: BridgeConfig, models, data, *, overwrite: bool):
    """Without an lr grid: train once into `run_dir`. With one: train at every learning rate
    (run_dir/lr-<value>) and pick the best dev score (ties: the first in the grid).
    Returns (folder of the chosen run, {lr: dev score} or None, chosen lr or None)."""
    if not cfg.lr_grid:
        train_once(cfg, run_dir, bridge_cfg, models, data, overwrite=overwrite)
        return run_dir, None, None
    scores = {}
    for lr in cfg.lr_grid:
        folder = run_dir / f"lr-{lr:g}"
        train_once(cfg, folder, bridge_cfg, models, data, overwrite=overwrite, learning_rate=lr)
        scores[lr] = run_dev_score(folder)
    chosen = max(cfg.lr_grid, key=lambda lr: scores[lr])  # max keeps the first of equal scores
    return run_dir / f"lr-{chosen:g}", scores, chosen


def trained_bridge(run_dir: Path, models) -> LayerBridge:
    """The bridge saved in `run_dir`, on every process: the main one reads it, the others receive it."""
    payload = None
    if processes().is_main_process:
        bridge = LayerBridge.from_pretrained(run_dir, models=models)
        payload = (bridge.config.to_dict(), bridge.trainable_state_dict())
    config, state = main_decides(payload)
    if not processes().is_main_process:
        bridge = LayerBridge(BridgeConfig.from_dict(config), *models)
        load_trained_weights(bridge, state, f"{run_dir / 'bridge.safetensors'} (sent by the main process)")
    return bridge
