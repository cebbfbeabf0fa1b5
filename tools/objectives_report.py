"""The English-only objectives table of docs/generation.md (`objectives` block): each objective of
studies/generation/objectives.sh beside the restating bridge trained with it on the same machine and
precision, on the bitext study's languages (English, the copy ceiling, and the low-resource languages XNLI
lacks), with the difference to restating paired over the same sentences (each objective's summary.json,
tools/paired_bootstrap.py). Read by tools/generation_report.py; its rows (`study_docs`, `row`) also make
the real-budget table (tools/budget_report.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from layerbridge.errors import DataError
from layerbridge.precision import label as precision_label
from tools import seeds

OBJECTIVES = "objectives"  # results/objectives/<objective>/seed<N>/compare.json (+ summary.json: paired with restate)
LABELS = {"restate": "restating (the baseline)", "continuation": "continuation",
          "token-dropout": "restating, encoder token dropout 0.2",
          "continuation+restate": "continuation, then restating (--init-from)",
          "restate+restate": "restating, then restating again (--init-from; the two-stage control)"}
RUN = "global_softmax"  # the one run of each objective's compare


def study_docs(root: Path, study: str, runs: dict[str, str]) -> dict[str, list[dict]]:
    """variant -> per finished seed {"seed", "compare" (compare.json), "run" (the variant's run in it),
    "paired" (summary.json or None)}, for the variants of results/<study>/<variant>/seed<N>/ in `runs`
    (variant -> the name of its run in compare.json), in that order."""
    found: dict[str, list[dict]] = {}
    for variant, run in runs.items():
        for folder in sorted((root / study / variant).glob("seed*")):
            if not (folder / "compare.json").is_file():
                continue
            doc = json.loads((folder / "compare.json").read_text(encoding="utf-8"))
            if run not in doc["runs"]:
                raise DataError(f"{folder / 'compare.json'}: no {run} run, the one the {variant} row reads")
            summary = folder / "summary.json"
            paired = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else None
            found.setdefault(variant, []).append({"seed": doc["train_config"]["seed"], "compare": doc,
                                                  "run": doc["runs"][run], "paired": paired})
    return found


def objective_docs(root: Path) -> dict[str, list[dict]]:
    """objective -> its finished seeds (study_docs)."""
    return study_docs(root, OBJECTIVES, {objective: RUN for objective in LABELS})


def same_languages(found: dict[str, list[dict]], where: str) -> None:
    """Refuse a table whose rows were evaluated on different languages (their averages would not compare)."""
    if len({tuple(r["compare"]["languages"]) for runs in found.values() for r in runs}) > 1:
        raise DataError(f"{where}: the runs were evaluated on different languages; evaluate every run on the same "
                        "ones (the scripts' LANGUAGES)")


def steps_cell(train: dict) -> str:
    """Steps trained; with --keep-best, the step whose weights were kept, and an early stop."""
    if "best_step" not in train:
        return f"{train['steps']:,}"
    if train.get("stopped_early"):
        return f"best {train['best_step']:,}, stopped at {train['steps']:,} of {train['stopped_early']['max_steps']:,}"
    return f"best {train['best_step']:,} of {train['steps']:,}"


def row(label: str, runs: list[dict], *, steps: bool = False, stage1: str | None = None) -> str:
    """One variant: seeds, precision, (its stage 1,) (steps,) the dev score (English, or the mean over its
    dev languages) and test chrF++, the low-resource average with its 95% interval (bounds averaged over
    seeds), and the paired difference to the baseline where every seed has one."""
    results = [r["run"] for r in runs]
    low = [res["summary"]["low_resource_chrf"] for res in results]
    # compare.json keeps a run's joint intervals beside its summary
    interval = seeds.mean_bounds([res.get("low_resource_chrf_ci95") for res in results])
    diffs = [r["paired"]["low_resource"] for r in runs if r["paired"]]
    diff = "—"
    if diffs and len(diffs) == len(runs):
        diff = seeds.paired_cell(diffs)
    precision = "/".join(sorted({precision_label(res["train"]["mixed_precision"]) for res in results}))
    trained = f"{'; '.join(steps_cell(res['train']) for res in results)} | " if steps else ""
    first = f"{stage1} | " if stage1 is not None else ""
    return (f"| {label} | {', '.join(str(r['seed']) for r in runs)} | {precision} | {first}{trained}"
            f"{seeds.spread([res['train'].get('dev_chrf') for res in results], scale=1)} | "
            f"{seeds.spread([res['results'].get('eng_Latn', {}).get('chrf') for res in results], scale=1)} | "
            f"{seeds.spread(low, scale=1)}{interval} | {diff} |")


def objectives_block(root: Path) -> list[str]:
    """The table: one row per objective with a finished seed, restating first."""
    found = objective_docs(root)
    if not found:
        return ["(no finished run yet: bash studies/generation/objectives.sh)"]
    first = next(iter(found.values()))[0]["compare"]
    same_languages(found, f"results/{OBJECTIVES}")
    lines = [f"{first['eval_limit'] or 'all'} test sentences per language (the same ids in every language); the "
             f"low-resource average over {', '.join(first['low_resource'])}; chrF++, mean ± half-range over seeds, "
             "in brackets the 95% bootstrap interval; the difference to restating is paired over the same "
             "sentences (each seed against the restating bridge of the same seed and machine).", "",
             "| objective | seeds | precision | English dev | English (copy ceiling) | low-resource average "
             "| minus restating (paired) |", "|---|---|---|---:|---:|---:|---:|"]
    return lines + [row(LABELS[objective], runs) for objective, runs in found.items()] + control_line(root, found)


def control_line(root: Path, found: dict[str, list[dict]]) -> list[str]:
    """Continuation as stage 1 minus restating as stage 1 (the same two stages and steps), paired, where
    every seed of continuation+restate has that pairing (its control.json)."""
    seeds_run = [r["seed"] for r in found.get("continuation+restate", [])]
    paths = [root / OBJECTIVES / "continuation+restate" / f"seed{seed}" / "control.json" for seed in seeds_run]
    if not paths or not all(p.is_file() for p in paths):
        return []
    diffs = [json.loads(p.read_text(encoding="utf-8"))["low_resource"] for p in paths]
    return ["", "Continuation then restating minus restating then restating (the same two stages and steps), paired "
                f"over the same sentences, low-resource average: {seeds.paired_cell(diffs)} "
                f"(seeds {', '.join(map(str, seeds_run))})."]
