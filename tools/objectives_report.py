"""The English-only objectives table of docs/generation.md (`objectives` block): each objective of
studies/generation/objectives.sh beside the restating bridge trained with it on the same machine and
precision, on the bitext study's languages (English, the copy ceiling, and the low-resource languages XNLI
lacks), with the difference to restating paired over the same sentences (each objective's summary.json,
tools/paired_bootstrap.py). Read by tools/generation_report.py.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from layerbridge.errors import DataError
from layerbridge.precision import label as precision_label
from tools import seeds

OBJECTIVES = "objectives"  # results/objectives/<objective>/seed<N>/compare.json (+ summary.json: paired with restate)
LABELS = {"restate": "restating (the baseline)", "continuation": "continuation",
          "token-dropout": "restating, encoder token dropout 0.2",
          "continuation+restate": "continuation, then restating (--init-from)"}
RUN = "global_softmax"  # the one run of each objective's compare


def objective_docs(root: Path) -> dict[str, list[dict]]:
    """objective -> per finished seed {"seed", "compare" (compare.json), "paired" (summary.json or None)}."""
    found: dict[str, list[dict]] = {}
    for objective in LABELS:
        for folder in sorted((root / OBJECTIVES / objective).glob("seed*")):
            if not (folder / "compare.json").is_file():
                continue
            doc = json.loads((folder / "compare.json").read_text(encoding="utf-8"))
            if RUN not in doc["runs"]:
                raise DataError(f"{folder / 'compare.json'}: no {RUN} run (studies/generation/objectives.sh writes one)")
            summary = folder / "summary.json"
            paired = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else None
            found.setdefault(objective, []).append({"seed": doc["train_config"]["seed"], "compare": doc, "paired": paired})
    return found


def row(label: str, runs: list[dict]) -> str:
    """One objective: seeds, precision, English dev and test chrF++, the low-resource average with its 95%
    interval (bounds averaged over seeds), and the paired difference to restating where every seed has one."""
    results = [r["compare"]["runs"][RUN] for r in runs]
    low = [res["summary"]["low_resource_chrf"] for res in results]
    # compare.json keeps a run's joint intervals beside its summary
    interval = seeds.mean_bounds([res.get("low_resource_chrf_ci95") for res in results])
    diffs = [r["paired"]["low_resource"] for r in runs if r["paired"]]
    diff = "—"
    if diffs and len(diffs) == len(runs):
        diff = (f"{statistics.mean(d['difference'] for d in diffs):+.1f} "
                f"[{statistics.mean(d['ci95'][0] for d in diffs):+.1f}, {statistics.mean(d['ci95'][1] for d in diffs):+.1f}]")
    precision = "/".join(sorted({precision_label(res["train"]["mixed_precision"]) for res in results}))
    return (f"| {label} | {', '.join(str(r['seed']) for r in runs)} | {precision} | "
            f"{seeds.spread([res['train'].get('dev_chrf') for res in results], scale=1)} | "
            f"{seeds.spread([res['results'].get('eng_Latn', {}).get('chrf') for res in results], scale=1)} | "
            f"{seeds.spread(low, scale=1)}{interval} | {diff} |")


def objectives_block(root: Path) -> list[str]:
    """The table: one row per objective with a finished seed, restating first."""
    found = objective_docs(root)
    if not found:
        return ["(no finished run yet: bash studies/generation/objectives.sh)"]
    first = next(iter(found.values()))[0]["compare"]
    languages = {tuple(r["compare"]["languages"]) for runs in found.values() for r in runs}
    if len(languages) > 1:
        raise DataError(f"results/{OBJECTIVES}: the objectives were evaluated on different languages; "
                        "evaluate every run on the same ones (objectives.sh's LANGUAGES)")
    lines = [f"{first['eval_limit'] or 'all'} test sentences per language (the same ids in every language); the "
             f"low-resource average over {', '.join(first['low_resource'])}; chrF++, mean ± half-range over seeds, "
             "in brackets the 95% bootstrap interval; the difference to restating is paired over the same "
             "sentences (each seed against the restating bridge of the same seed and machine).", "",
             "| objective | seeds | precision | English dev | English (copy ceiling) | low-resource average "
             "| minus restating (paired) |", "|---|---|---|---:|---:|---:|---:|"]
    return lines + [row(LABELS[objective], runs) for objective, runs in found.items()]
