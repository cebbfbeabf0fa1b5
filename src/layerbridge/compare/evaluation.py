"""Evaluating a comparison's bridge on every test language (or reusing its finished evaluation),
and the layer weights it gives."""

from __future__ import annotations

from pathlib import Path

import torch

from layerbridge.compare.reuse import earlier_evaluation, evaluation_meta
from layerbridge.evaluation.recipe import evaluate_task_examples
from layerbridge.fusion.base import weight_entropy
from layerbridge.processes import gather_dicts, main_decides, my_share, processes
from layerbridge.reporting.tables import write_evaluation


def eval_folder(cfg, run_dir: Path) -> Path:
    """Where a run's evaluation lives: results.json, predictions/<lang>.jsonl."""
    return run_dir / f"eval-{cfg.eval_mode}"


def evaluate_run(cfg, run_dir: Path, bridge, evaluation: dict[str, list], task, *, overwrite: bool):
    """Per-language results and summary of one bridge (main process; (None, None) elsewhere),
    reusing a finished evaluation of the same bridge, settings and examples. The languages are
    shared out among the processes; the results go to run_dir/eval-<mode>."""
    meta = evaluation_meta(cfg, run_dir, bridge, evaluation)
    eval_dir = eval_folder(cfg, run_dir)
    main = processes().is_main_process
    earlier = earlier_evaluation(eval_dir, meta, evaluation) if main and not overwrite else None
    if main_decides(earlier is not None):
        return earlier if main else (None, None)
    mine = {lang: evaluate_task_examples(bridge, task, evaluation[lang], mode=cfg.mode, batch_size=cfg.eval_batch_size,
                                         desc=f"{run_dir.name}/{lang}", mixed_precision=cfg.train.mixed_precision,
                                         decoding=cfg.decoding)
            for lang in my_share(list(evaluation))}
    results = gather_dicts(mine)
    if not main:
        return None, None
    results = {lang: results[lang] for lang in evaluation}
    return results, write_evaluation(eval_dir, results, task=task, meta=meta)


def layer_weight_stats(bridge, examples) -> tuple[list[float], float]:
    """Over the real tokens of some examples: the mean layer weight (one value per fused layer) and
    the mean per-token weight entropy in nats (0: every token reads one layer; log L: uniform)."""
    weights = torch.cat([info["weights"] for info in bridge.layer_weights([e.text for e in examples])]).float()
    entropy = weight_entropy(weights[None], torch.ones(1, weights.shape[0]))[0]  # all tokens as one "example"
    return weights.mean(0).tolist(), round(float(entropy), 5)
