"""Experiment trackers (`report_to`: TensorBoard, Weights & Biases, MLflow) through accelerate's trackers.

Per logged step: the loss, learning rate, gradient norm, per-token layer-weight entropy, the global
layer weights (one scalar per fused encoder layer) and the English dev score when scored; the run's
config as hyper-parameters (flattened to scalars and strings). Only the main process logs, under the
run folder (<output_dir>/tracking/): TensorBoard's event files, wandb's files, and MLflow's runs unless
MLFLOW_TRACKING_URI points elsewhere. A resumed run logs to the same place (TensorBoard purges the
killed run's steps after its checkpoint; wandb and MLflow continue the run they started, their ids kept
in tracking/trackers.json). Tracking only reads the log entries: the log and weights are the same
with or without it. The tracker packages are optional extras (`pip install 'layerbridge[tensorboard]'`).
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from layerbridge.errors import ConfigError
from layerbridge.io import atomic_write_text

TRACKERS = ("tensorboard", "wandb", "mlflow")  # each one's package and extra bear its name
TRACKING_DIR = "tracking"  # under the run folder
PROJECT = "layerbridge"  # TensorBoard: <output_dir>/tracking/layerbridge; wandb's project; MLflow's experiment
STARTED = "trackers.json"  # which trackers this run folder has started (and the wandb / MLflow run ids)


def parse_report_to(value) -> list[str]:
    """`report_to` as a list of tracker names: a string or list, comma lists allowed; "none" (or
    nothing) means no tracker. Unknown names are refused."""
    items = [value] if isinstance(value, str) else list(value or [])
    names = [n.strip().lower() for item in items for n in str(item).split(",") if n.strip()]
    unknown = [n for n in names if n not in (*TRACKERS, "none")]
    if unknown:
        raise ConfigError(f"report_to: unknown tracker(s) {', '.join(map(repr, unknown))}; choose from "
                          f"{', '.join(TRACKERS)} or none")
    if "none" in names and len(set(names)) > 1:
        raise ConfigError(f"report_to: 'none' cannot be combined with trackers ({', '.join(names)})")
    return list(dict.fromkeys(n for n in names if n != "none"))


def require_trackers(names: list[str]) -> None:
    """A clear error naming the extra to install when a tracker's package is missing (accelerate would
    skip that tracker silently)."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"--report-to {name}: the {name} package is not installed; install it with "
                              f"pip install 'layerbridge[{name}]'") from None


def accelerator_kwargs(cfg) -> dict:
    """What the Accelerator needs to track the run (nothing when it reports to no tracker)."""
    if not cfg.report_to:
        return {}
    require_trackers(cfg.report_to)
    return {"log_with": list(cfg.report_to), "project_dir": str(Path(cfg.output_dir) / TRACKING_DIR)}


def hyperparameters(cfg) -> dict:
    """The run's config flattened ("bridge.fusion_options.init"), every value a scalar or a string."""
    flat: dict = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (bool, int, float, str)):
            flat[prefix] = value
        else:  # None, lists, tuples
            flat[prefix] = "none" if value is None else json.dumps(value)

    walk("", cfg.to_dict())
    return flat


def run_name(cfg) -> str:
    return cfg.run_name or Path(cfg.output_dir).resolve().name


def start_tracking(run) -> None:
    """Start the run's trackers (main process), continuing a resumed run's, and store the config as
    hyper-parameters in each tracker that has not had it yet."""
    cfg, accelerator = run.cfg, run.accelerator
    if not cfg.report_to or not accelerator.is_main_process:
        return
    folder = Path(cfg.output_dir) / TRACKING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    started = _read_started(folder)
    name = run_name(cfg)
    init = {"tensorboard": {"purge_step": run.start + 1},  # a resumed run: the killed run's later steps go
            "wandb": {"name": name, "dir": str(folder), **({"id": started["wandb"]["id"], "resume": "allow"}
                                                          if started.get("wandb", {}).get("id") else {})},
            "mlflow": {"run_name": name, **({"run_id": started["mlflow"]["run_id"]}
                                            if started.get("mlflow", {}).get("run_id") else {})}}
    if "mlflow" in cfg.report_to:
        _local_mlflow_store(folder)
    accelerator.init_trackers(PROJECT, init_kwargs={t: init[t] for t in cfg.report_to})
    params = hyperparameters(cfg)
    for tracker in accelerator.trackers:
        if tracker.name not in started:
            tracker.store_init_configuration(params)
        started[tracker.name] = _run_id(tracker)
    atomic_write_text(folder / STARTED, json.dumps(started, indent=2) + "\n")


def log_entry(run, entry: dict) -> None:
    """One log entry (a logged step) to the trackers, as scalars under train/, dev/ and layer_weight/."""
    if not run.cfg.report_to:
        return
    values = {f"train/{key}": entry[key] for key in ("loss", "lr", "grad_norm", "weight_entropy", "epoch")
              if entry.get(key) is not None}
    for key, value in entry.items():  # dev/chrf, and with --dev-languages dev/chrf_<language> for each
        if key == "dev_chrf_languages":
            values.update({f"dev/chrf_{lang}": score for lang, score in value.items()})
        elif key.startswith("dev_"):
            values[f"dev/{key[len('dev_'):]}"] = value
    for layer, weight in zip(run.bridge.layer_indices, entry.get("global_weights", [])):
        values[f"layer_weight/layer_{layer}"] = weight
    run.accelerator.log(values, step=entry["step"])


def end_tracking(accelerator) -> None:
    """Finish the trackers (not `accelerator.end_training()`, which also ends the process group that
    `compare`'s next run needs)."""
    if accelerator.is_main_process:
        for tracker in accelerator.trackers:
            tracker.finish()
    accelerator.trackers = []


def _read_started(folder: Path) -> dict:
    path = folder / STARTED
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _run_id(tracker) -> dict:
    if tracker.name == "wandb":
        return {"id": tracker.run.id}
    if tracker.name == "mlflow":
        return {"run_id": tracker.active_run.info.run_id}
    return {}


def _local_mlflow_store(folder: Path) -> None:
    """MLflow's runs under the run folder, unless MLFLOW_TRACKING_URI names a server (or a store)."""
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri((folder / "mlruns").resolve().as_uri())
