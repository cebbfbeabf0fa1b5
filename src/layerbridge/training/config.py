"""TrainConfig: every setting of a training run, saved as `train_config.json` beside its results.

Defaults are the paper's (AdamW lr 3e-5, betas 0.8/0.999, weight decay 3e-7, cosine schedule
with 5% warm-up, 3 epochs, effective batch 8, encoder length 200, clipping 1.0). They assume
~100k training examples. Presets adjust them for small budgets (see PRESETS).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerbridge.bridge import BridgeConfig
from layerbridge.errors import ConfigError
from layerbridge.registry import unknown_fields
from layerbridge.training.objectives import OBJECTIVES
from layerbridge.training.tracking import parse_report_to

TRAIN_CONFIG_NAME = "train_config.json"


@dataclass
class TrainConfig:
    task: str = "sib200"
    output_dir: str = "runs/bridge"
    bridge: BridgeConfig | None = None  # None: BridgeConfig.for_task(task), as the command line builds it
    # two-stage training: start from this saved bridge's weights (a folder or Hub id; training/init_from.py)
    init_from: str | None = None
    # data
    data_dir: str | None = None
    source: str = "auto"  # auto | local | hub
    train_limit: int | None = 100_000  # stratified by class (the paper's cap)
    dev_size: int | None = None  # None: the task module's default carve-out
    max_target_length: int | None = None  # generation tasks: LLM tokens per training target (None: the task's)
    # optimisation (paper values)
    learning_rate: float = 3e-5
    fusion_learning_rate: float | None = None  # a separate rate for the fusion's parameters (None: same)
    betas: tuple[float, float] = (0.8, 0.999)
    eps: float = 1e-8
    weight_decay: float = 3e-7
    warmup_ratio: float = 0.05
    epochs: float = 3.0
    max_steps: int | None = None  # cap on optimiser steps (after epochs are counted)
    batch_size: int = 8  # effective (global) batch: micro batches x processes x accumulation
    micro_batch_size: int | None = None  # per forward pass on one process (default: as large as possible)
    max_grad_norm: float = 1.0
    label_smoothing: float = 0.0  # > 0: smoothed targets in the training loss (not in the paper)
    # English-only objectives beyond restating (training/objectives.py): what the encoder reads and the LLM
    # writes (restate | continuation), and a bottleneck on what the LLM reads of the encoder in training
    objective: str = "restate"
    encoder_token_dropout: float = 0.0  # each real encoder position left out with this probability (training only)
    keep_best: bool = False  # with eval_every: save the weights of the best dev score, not the last
    early_stopping_patience: int = 0  # with keep_best: stop after N dev scores in a row no better than the best (0: off)
    mixed_precision: str = "no"  # no | bf16 | auto (bf16 where the hardware has it natively)
    seed: int = 0
    # speed (each on by default where it is safe; see docs/benchmarks.md)
    encoder_cache: bool = True  # keep the frozen encoder's states after their first computation
    encoder_cache_gb: float = 0.5  # most the cache may hold in RAM; a larger one goes to a file (below, or the temp folder)
    encoder_cache_dir: str | None = None  # keep the cache in a file under this folder (read back per batch), not in RAM
    bucket_by_length: bool = True  # batches of similar-length texts (less padding)
    # memory
    gradient_checkpointing: bool = False  # recompute the frozen LLM's layers in the backward instead of keeping them
    # bookkeeping
    eval_every: int = 0  # dev accuracy every N steps (0: only at the end)
    dev_limit: int | None = 200  # dev examples scored at each evaluation (per language with dev_languages)
    # the dev rows read in these languages, not English (tasks/parallel_dev.py; flores_en): the dev score, and
    # what keep_best and early stopping go by, is then their mean chrF++
    dev_languages: list[str] = field(default_factory=list)
    checkpoint_every: int = 50
    log_every: int = 10
    cache_dir: str | None = None
    preset: str = "paper"
    # experiment trackers (training/tracking.py): tensorboard, wandb, mlflow; none by default
    report_to: list[str] = field(default_factory=list)
    run_name: str | None = None  # the tracker run's name (None: the output folder's name; compare: the run's name)
    # decoding settings given at training (layerbridge.decoding.Decoding fields), over the task's own; the
    # bridge is saved with them (generation_config.json): evaluate / predict / lm-eval / generate use them
    generation: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.bridge is None:  # what the LLM reads follows the task (flores_en: its instruction)
            self.bridge = BridgeConfig.for_task(self.task)
        elif isinstance(self.bridge, dict):
            self.bridge = BridgeConfig.from_dict(self.bridge)
        self.betas = tuple(self.betas)
        if isinstance(self.dev_languages, str) or not all(isinstance(lang, str) for lang in self.dev_languages):
            raise ConfigError(f"dev_languages must be a list of language codes, e.g. ['swh_Latn'], not {self.dev_languages!r}")
        self.dev_languages = list(dict.fromkeys(self.dev_languages))  # each scored once
        self.report_to = parse_report_to(self.report_to)
        from layerbridge.decoding import tuned_decoding

        tuned_decoding(None, self.generation)  # unknown or invalid decoding settings are refused here
        checks = {
            "learning_rate": self.learning_rate > 0,
            "fusion_learning_rate": self.fusion_learning_rate is None or self.fusion_learning_rate > 0,
            "batch_size": self.batch_size >= 1,
            "epochs": self.epochs > 0,
            "warmup_ratio": 0 <= self.warmup_ratio < 1,
            "max_grad_norm": self.max_grad_norm > 0,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "objective": self.objective in OBJECTIVES,
            "encoder_token_dropout": 0 <= self.encoder_token_dropout < 1,
            "keep_best": not self.keep_best or self.eval_every > 0,
            "early_stopping_patience": self.early_stopping_patience >= 0
                                       and (self.early_stopping_patience == 0 or self.keep_best),
            "mixed_precision": self.mixed_precision in ("no", "bf16", "auto"),
            "source": self.source in ("auto", "local", "hub"),
            "checkpoint_every": self.checkpoint_every >= 1,
            "micro_batch_size": self.micro_batch_size is None or self.micro_batch_size >= 1,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "max_target_length": self.max_target_length is None or self.max_target_length >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError("invalid training setting(s): " + ", ".join(f"{b}={getattr(self, b)!r}" for b in bad))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        unknown = unknown_fields(cls, values)
        if unknown:
            raise ConfigError(f"unknown training setting(s) {unknown}")
        return cls(**values)

    def save(self, folder: str | Path) -> None:
        from layerbridge.io import atomic_write_text

        atomic_write_text(Path(folder) / TRAIN_CONFIG_NAME, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads((Path(folder) / TRAIN_CONFIG_NAME).read_text(encoding="utf-8")))


# Presets change only optimisation settings; anything given explicitly wins over a preset.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # A few hundred steps on a few hundred examples (the CPU demo); chosen on English dev accuracy
    # in studies/demo-preset/run.sh, see docs/demo-preset.md.
    "small-data": {"learning_rate": 3e-3, "epochs": 2.0, "weight_decay": 0.0, "warmup_ratio": 0.05},
}


def apply_preset(name: str, explicit: dict[str, Any]) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return {**PRESETS[name], **explicit, "preset": name}
