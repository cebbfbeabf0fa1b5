"""One run of a comparison: train its bridge (or reuse / resume), evaluate it (or reuse the
evaluation), and keep its record for compare.json. The bridges compared and the trained reference
(the LLM alone) go through here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from layerbridge.bridge import BridgeConfig
from layerbridge.compare.document import run_entry
from layerbridge.compare.evaluation import eval_folder, evaluate_run
from layerbridge.compare.intervals import with_intervals
from layerbridge.compare.training import train_with_lr_grid, trained_bridge
from layerbridge.processes import processes


@dataclasses.dataclass
class Inputs:
    """What every run of a comparison shares, loaded once."""

    task: object  # layerbridge.tasks.Task
    data: tuple[list, list]  # English (train, dev) examples
    evaluation: dict[str, list]  # language -> test examples
    models: tuple  # (encoder, encoder tokenizer, llm, llm tokenizer), frozen


def train_and_evaluate(cfg, run_dir: Path, bridge_cfg: BridgeConfig, inputs: Inputs, *, overwrite: bool):
    """Train one bridge into `run_dir` (or reuse a finished run / resume a killed one; with an lr
    grid, one per learning rate, keeping the best on English dev) and evaluate it (or reuse the
    finished evaluation of that same bridge on the same examples). Every process takes part.
    Returns (the bridge, the run's record: the main process's; None elsewhere); a generation run's
    record carries its bootstrap intervals (compare.intervals)."""
    chosen_dir, grid_scores, chosen = train_with_lr_grid(cfg, run_dir, bridge_cfg, inputs.models, inputs.data,
                                                         overwrite=overwrite)
    bridge = trained_bridge(chosen_dir, inputs.models)
    results, summary = evaluate_run(cfg, chosen_dir, bridge, inputs.evaluation, inputs.task, overwrite=overwrite)
    if not processes().is_main_process:
        return bridge, None
    results, averages = with_intervals(eval_folder(cfg, chosen_dir), results, inputs.task, summary)
    summary = {k: v for k, v in summary.items() if k not in averages}  # kept once, beside the run's results
    return bridge, {**run_entry(chosen_dir, bridge, results, summary, grid_scores, chosen), **averages}
