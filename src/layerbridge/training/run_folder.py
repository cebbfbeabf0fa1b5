"""The run folder: what may already be in it (`--overwrite`, `--resume`), and what a resumed run may
change (where things are, how often it logs) and may not (anything that changes the trained weights;
the training data are checked by their fingerprint)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from layerbridge.errors import ConfigError
from layerbridge.training.config import TRAIN_CONFIG_NAME, TrainConfig

# Settings a resumed run may change: where things are (a moved run folder, data or model cache), how
# often it logs and checkpoints (and to which trackers), and what trades memory for speed with the same results (tests). Every
# other setting changes the trained weights (or what the logged scores mean), and a resume refuses it.
# The training data itself is checked on resume by its fingerprint (`data_fingerprint`), not its folder.
RESUME_MAY_CHANGE = {"output_dir", "data_dir", "cache_dir", "encoder_cache_dir", "encoder_cache_gb",
                     "gradient_checkpointing", "log_every", "checkpoint_every", "report_to", "run_name",
                     "generation"}  # decoding settings saved with the bridge: no trained weight depends on them
# ... and eval_every too when neither run keeps its best dev weights: it then decides only which
# steps are scored on English dev (dev scoring draws no randomness the steps use: each micro-batch
# seeds its own dropout), not the weights
RESUME_MAY_CHANGE_WITHOUT_KEEP_BEST = {"eval_every"}


def prepare_output_dir(cfg: TrainConfig, *, overwrite: bool, resume: bool) -> Path:
    """Refuse to clobber results: an existing non-empty folder needs --overwrite or --resume. A
    resume refuses settings that change the trained weights (`resume_conflicts`)."""
    out = Path(cfg.output_dir)
    if out.exists() and any(out.iterdir()):
        if resume:
            saved = out / TRAIN_CONFIG_NAME
            if not saved.is_file():
                raise ConfigError(f"--resume: {out} holds no {TRAIN_CONFIG_NAME}; nothing to resume")
            changed = resume_conflicts(TrainConfig.load(out), cfg)
            if changed:
                raise ConfigError(f"--resume: these settings change the trained weights and differ from the run in "
                                  f"{out}: {'; '.join(changed)}. Resume with the run's own values (only "
                                  f"{', '.join(sorted(RESUME_MAY_CHANGE))} may differ), or start a new run "
                                  "(--overwrite, or another output folder)")
            return out
        if not overwrite:
            raise ConfigError(f"output folder {out} exists and is not empty; use --overwrite or --resume")
        shutil.rmtree(out)
    elif resume:
        raise ConfigError(f"--resume: {out} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    return out


def resume_conflicts(before: TrainConfig, now: TrainConfig) -> list[str]:
    """The settings of `now` that differ from the killed run's (`before`) and would change its trained
    weights, as "name: old -> new" (bridge settings as bridge.<name>); [] when it may resume."""
    may_change = set(RESUME_MAY_CHANGE)
    if not (before.keep_best or now.keep_best):
        may_change |= RESUME_MAY_CHANGE_WITHOUT_KEEP_BEST
    flat = [{**{k: v for k, v in c.to_dict().items() if k != "bridge"},
             **{f"bridge.{k}": v for k, v in c.bridge.to_dict().items()}} for c in (before, now)]
    return [f"{key}: {flat[0].get(key)!r} -> {flat[1][key]!r}" for key in sorted(flat[1])
            if key not in may_change and flat[1][key] != flat[0].get(key)]


def data_fingerprint(train_examples: list, dev_examples: list) -> str:
    """sha256 of the training and dev examples (ids, texts, labels, targets), in order."""
    digest = hashlib.sha256()
    for part in (train_examples, dev_examples):
        for e in part:
            digest.update(json.dumps([e.id, e.text, e.label, e.target], ensure_ascii=False).encode())
        digest.update(b"\x00")
    return digest.hexdigest()
