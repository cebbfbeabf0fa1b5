"""Runs that differ only in `center_languages` train once.

Language centring acts at test time only: training never opens an `input_language` block, so a
centred bridge's steps see exactly the states of its twin without centring (English texts are never
moved), from the same start (the centring module holds buffers only and is built last). Its one
extra part, the English mean state, is closed-form. So when a compared run's twin (the same bridge
with center_languages flipped) has trained earlier in the same comparison, the run takes the twin's
trained weights at the same learning rate and fits (or drops) the English mean instead of training
again; its train_summary.json says so ("derived_from"). tests/test_compare_twins.py checks that the
result equals the run trained on its own.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.saving import load_trained_weights, read_weights
from layerbridge.decoding import load_generation_config
from layerbridge.evaluation.recipe import autocast
from layerbridge.io import atomic_write_text, slug
from layerbridge.processes import main_decides, processes
from layerbridge.tasks.training_data import english_texts
from layerbridge.training.config import TrainConfig
from layerbridge.training.summary import SUMMARY_NAME

CENTRING_KEYS = "centring."  # the prefix of the centring module's saved state (the English mean)


def earlier_twin(cfg, run_dir: Path, bridge_cfg: BridgeConfig) -> Path | None:
    """The finished folder (same lr-grid folder) of the run listed before this one in `cfg.runs` that
    differs from it only in center_languages; None when there is none. Only an earlier run counts: it
    has trained (or been reused, or been retrained with --overwrite) in this same comparison. Never
    with --init-from: there a centred run keeps the stage-1 bridge's English mean, not a fitted one."""
    if cfg.train.init_from is not None:
        return None
    out = Path(cfg.train.output_dir)
    try:
        own = run_dir.relative_to(out).parts
    except ValueError:
        return None
    flipped = dataclasses.replace(bridge_cfg, center_languages=not bridge_cfg.center_languages)
    for name, other in cfg.runs.items():
        if slug(name) == own[0]:
            return None  # this run itself: no earlier twin
        folder = out.joinpath(slug(name), *own[1:])
        if other == flipped and (folder / SUMMARY_NAME).is_file():
            return folder
    return None


def derive_from_twin(run_cfg, twin_dir: Path, models, data) -> None:
    """Write into run_cfg.output_dir the run `run_cfg` would have trained: the twin's trained weights,
    with the English mean fitted on the same English training texts a centred training fits it on (or
    dropped); the twin's training settings (its learning rate), log and summary, the summary marked
    "derived_from". Every process calls it; the main one writes."""
    if processes().is_main_process:
        started = time.perf_counter()
        out = Path(run_cfg.output_dir)
        print(f"{out}: the training of {twin_dir} (it differs only in center_languages, which acts at test time)")
        twin_config = BridgeConfig.load(twin_dir)  # the twin's, with the base models it filled in
        bridge = LayerBridge(dataclasses.replace(twin_config, center_languages=run_cfg.bridge.center_languages), *models)
        state, path = read_weights(twin_dir)
        state = {k: v for k, v in state.items() if not k.startswith(CENTRING_KEYS)}
        state.update({k: v for k, v in bridge.trainable_state_dict().items() if k.startswith(CENTRING_KEYS)})
        load_trained_weights(bridge, state, f"{path} (the twin of {out})")
        if bridge.centring is not None:
            with autocast(bridge, run_cfg.mixed_precision):
                bridge.fit_source_mean(english_texts(run_cfg.task, data[0]))
        bridge.generation_config = load_generation_config(twin_dir)
        out.mkdir(parents=True, exist_ok=True)
        settings = TrainConfig.load(twin_dir)
        centring = run_cfg.bridge.center_languages
        dataclasses.replace(settings, output_dir=str(out), run_name=run_cfg.run_name,
                            bridge=dataclasses.replace(settings.bridge, center_languages=centring)).save(out)
        bridge.save_pretrained(out)
        shutil.copyfile(twin_dir / "train_log.jsonl", out / "train_log.jsonl")
        summary = json.loads((twin_dir / SUMMARY_NAME).read_text())
        summary["derived_from"] = {"run": str(twin_dir), "trained_seconds": summary["seconds"],
                                   "why": "center_languages acts at test time only: the same training"}
        summary["seconds"] = round(time.perf_counter() - started, 2)
        atomic_write_text(out / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
    main_decides(None)  # the others wait for the main process's files
