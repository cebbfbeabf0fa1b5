"""The bootstrap intervals of a compared generation run (evaluation.bootstrap): each language's, kept
from its evaluation or, for one reused from before they were recorded, drawn again from its
predictions file; and the joint ones of the averages over all and over the low-resource languages
of the headline metric (the same resampled sentence ids in every language each round)."""

from __future__ import annotations

import json
from pathlib import Path

from layerbridge.evaluation.bootstrap import BOOTSTRAPPED, average_intervals, intervals


def predictions(eval_dir: Path, result: dict, lang: str) -> list[dict] | None:
    """A language's predictions: in memory after a fresh evaluation, else from the evaluation's
    predictions/<lang>.jsonl (a reused one); None when neither is there."""
    if "predictions" in result:
        return result["predictions"]
    path = eval_dir / "predictions" / f"{lang}.jsonl"
    if not path.is_file():
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def language_intervals(result: dict, rows: list[dict] | None, metrics) -> dict:
    """One language's result with its intervals: as evaluated, or drawn from its predictions."""
    if rows is None or any(f"{m}_ci95" in result for m in metrics if m in BOOTSTRAPPED):
        return result
    return {**result, **intervals(metrics, [r["output"] for r in rows], [r["reference"] for r in rows])}


def with_intervals(eval_dir: Path, results: dict[str, dict], task, summary: dict | None = None
                   ) -> tuple[dict[str, dict], dict]:
    """(per-language results with their intervals, the run's record of the averages' intervals:
    `average_<metric>_ci95`, `low_resource_<metric>_ci95` and how they were drawn in `average_intervals`),
    taken from the evaluation's `summary` where it drew them (evaluations since they are written there).
    Classification tasks, and runs whose predictions are gone, come back as they were."""
    metric = task.headline_metric
    if not task.is_generation or metric not in BOOTSTRAPPED:
        return results, {}
    rows = {lang: predictions(eval_dir, r, lang) for lang, r in results.items()}
    results = {lang: language_intervals(r, rows[lang], task.metrics) for lang, r in results.items()}
    if summary and "average_intervals" in summary:
        return results, {k: v for k, v in summary.items() if k.endswith(f"_{metric}_ci95") or k == "average_intervals"}
    if any(found is None for found in rows.values()):
        return results, {}
    return results, average_intervals(metric, rows, task.low_resource)
