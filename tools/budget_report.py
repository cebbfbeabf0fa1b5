"""The real-budget table of docs/generation.md (`flores-en-budget` block): each design of
studies/generation/budget.sh, trained up to 2,000 steps with its best English-dev weights kept, beside the
200-step restating bridge that script trains on the same machine and precision (restate-200: the same
settings, languages and test sentences), with each design's difference to that bridge paired over the same
sentences (its summary.json, tools/paired_bootstrap.py). Read by tools/generation_report.py.
"""

from __future__ import annotations

from pathlib import Path

from tools.objectives_report import RUN, row, same_languages, study_docs

BUDGET = "flores-en-budget"  # results/flores-en-budget/<design>/seed<N>/compare.json (+ summary.json)
DESIGNS = {  # design -> (label, its run in compare.json)
    "soft-tokens": ("soft tokens (global_softmax, lexical start)", "global_softmax"),
    "cross-attention": ("cross-attention (LayAlign), lexical start", "global_softmax[injection=cross_attention]"),
    "bitext-stage": ("bitext stage 1, then soft tokens", "global_softmax"),
}
BASELINE = "restate-200"  # results/flores-en-budget/restate-200/seed<N>: the 200-step bridge each design is paired with
BASELINE_LABEL = "restating, 200 steps (the baseline)"


def budget_block(root: Path) -> list[str]:
    """The table: the 200-step baseline first, then one row per design with a finished seed."""
    found = study_docs(root, BUDGET, {design: run for design, (_, run) in DESIGNS.items()})
    if not found:
        return ["(no finished run yet: nohup bash studies/generation/budget.sh results/flores-en-budget 0 &)"]
    baseline = study_docs(root, BUDGET, {BASELINE: RUN}).get(BASELINE, [])
    same_languages({BASELINE: baseline, **found}, f"results/{BUDGET}")
    first = next(iter(found.values()))[0]["compare"]
    lines = [f"{first['eval_limit'] or 'all'} test sentences per language (the same ids in every language); the "
             f"low-resource average over {', '.join(first['low_resource'])}; chrF++, mean ± half-range over seeds, "
             "in brackets the 95% bootstrap interval. English dev: the best score kept (32 dev texts, every 100 "
             "steps). The difference to the 200-step restating bridge is paired over the same sentences (each "
             "seed against that bridge of the same seed, machine and precision).", "",
             "| design | seeds | precision | steps | English dev | English (copy ceiling) | low-resource average "
             "| minus 200-step restating (paired) |", "|---|---|---|---|---:|---:|---:|---:|"]
    if baseline:
        lines.append(row(BASELINE_LABEL, baseline, steps=True))
    return lines + [row(DESIGNS[design][0], runs, steps=True) for design, runs in found.items()]
