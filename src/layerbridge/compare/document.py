"""compare.json: one document with every run's results, training summary and layer weights, the
reference rows, and the settings that produced them (the docs build and the report read it)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from layerbridge.bridge import BridgeConfig
from layerbridge.bridge.config import RECORDS
from layerbridge.machine import environment
from layerbridge.tasks.parallel_dev import dev_rows
from layerbridge.training.summary import SUMMARY_NAME

# bridge settings a run's overrides do not list: its fusion (recorded apart) and what the models fill in
NOT_OVERRIDES = {"fusion", "fusion_options", *RECORDS}
DESIGNS = ("injection", "projector")  # a changed design is recorded with its options


def run_entry(run_dir: Path, bridge, results: dict, summary: dict, grid_scores: dict | None,
               chosen_lr: float | None) -> dict:
    """A trained and evaluated run as compare.json keeps it (the recipe adds its fusion and layer weights)."""
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return {
        "results": {lang: {k: v for k, v in r.items() if k != "predictions"} for lang, r in results.items()},
        "summary": summary,
        "train": json.loads((run_dir / SUMMARY_NAME).read_text()),
        "layers": bridge.layer_indices if bridge.reads_soft_tokens else [],
        "global_history": [(e["step"], e["global_weights"]) for e in log if "global_weights" in e],
        **({"lr_grid": {f"{lr:g}": score for lr, score in grid_scores.items()}, "chosen_lr": chosen_lr}
           if grid_scores else {}),
    }


def run_overrides(run: BridgeConfig, base: BridgeConfig) -> dict:
    """The settings in which a run's bridge differs from the base beyond its fusion, by name; a
    changed design (injection, projector) comes with its options.
    E.g. {"injection": "cross_attention", "injection_options": {}}."""
    changed = {f.name for f in dataclasses.fields(BridgeConfig)
               if f.name not in NOT_OVERRIDES and getattr(run, f.name) != getattr(base, f.name)}
    for design in DESIGNS:
        if changed & {design, f"{design}_options"}:
            changed |= {design, f"{design}_options"}
    return {key: copy.deepcopy(getattr(run, key)) for key in sorted(changed)}


def run_settings(cfg) -> dict:
    """compare.json's record of the runs' bridges: their fusion options, and their other overrides
    (only where some run has any)."""
    base = cfg.train.bridge
    overrides = {name: run_overrides(run, base) for name, run in cfg.runs.items()}
    overrides = {name: values for name, values in overrides.items() if values}
    return {"fusion_options": {name: copy.deepcopy(run.fusion_options) for name, run in cfg.runs.items()},
            **({"bridge_overrides": overrides} if overrides else {})}


def comparison_document(cfg, inputs, runs: dict, references: dict, *, seconds: float) -> dict:
    """The whole of compare.json. `seconds`: the call's wall time (reused runs: read, not retrained)."""
    task, languages = inputs.task, cfg.languages
    return {"task": task.name, "kind": task.kind, "metric": task.headline_metric, "reference_lang": task.reference_lang,
            "languages": languages, "low_resource": [lang for lang in languages if lang in task.low_resource],
            "mode": cfg.eval_mode, "eval_limit": cfg.eval_limit,
            "train_examples": len(inputs.data[0]), "dev_examples": dev_rows(inputs.data[1]),
            "train_config": cfg.train.to_dict(), **run_settings(cfg), "runs": runs, "references": references,
            "environment": environment(cfg.train.mixed_precision), "seconds": round(seconds, 1)}
