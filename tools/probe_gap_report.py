"""The probe-gap study's tables (studies/probe-gap/, issue 32): the transfer-side designs (a pooled
sentence token, language centring) beside the fair-budget study's `last`, default, probe and LLM
alone of the same seeds and settings, with English fit (English dev) and transfer (the low-resource
average) apart, and the default rule applied to them. Called by tools/results_report.py, which
loads the documents; the blocks land in docs/fusion-study.md and docs/results.md."""

from __future__ import annotations

import statistics

from layerbridge.errors import DataError
from tools import seeds
from tools.default_rule import DESIGN_COST, RULE_MARGIN, apply_rule

# Variants beyond the fair budget (run.sh's GRID and EXTRA): their rows are shown, never in the fair
# rule; where the default ran in a variant too, the rule is applied within that variant on its own.
# Every design chose the fair grid's top, so a grid above it; then, on that grid, twice the epochs
# with the best English-dev weights kept (EXTRA="--epochs 4 --keep-best --eval-every 40"); then, where
# English dev still rose at the end of 4 epochs, 8 epochs on the two learning rates those runs chose.
# variant -> (its results folder, what its rows say ({grid}: the learning rates its runs tried), the grid said
# where a table names the variant without its runs, the training settings its runs must have had)
VARIANTS = {"wide": ("probe-gap-wide-grid", ", {grid}", "wider lr grid", {"keep_best": False}),
            "4-epochs": ("probe-gap-4-epochs", ", {grid}, 4 epochs (best English dev kept)", "wider lr grid",
                         {"epochs": 4, "keep_best": True}),
            "8-epochs": ("probe-gap-8-epochs", ", 8 epochs (best English dev kept), {grid}", "the 4-epoch runs' two lrs",
                         {"epochs": 8, "keep_best": True})}
FOLDERS = {"sib200": "SIB-200", "sinhala-news": "Sinhala news"}
# block-name keys of the loaded documents -> their compare folders under results/
STUDIES = {f"probe-gap-{folder}": f"probe-gap/{folder}/seed*" for folder in FOLDERS} | {
    f"probe-gap-{variant}-{folder}": f"{out}/{folder}/seed*" for variant, (out, *_) in VARIANTS.items() for folder in FOLDERS}
# task -> (its fair-budget documents, its probe-gap documents, {its variants' documents: row-name suffix})
TASKS = {task: (f"fair-{folder}", f"probe-gap-{folder}",
                {f"probe-gap-{variant}-{folder}": f" ({variant})" for variant in VARIANTS})
         for folder, task in FOLDERS.items()}
SUFFIXES = {f" ({variant})": (said, grid) for variant, (_, said, grid, _) in VARIANTS.items()}
PROBE, LLM_ALONE = "probe: last layer", "LLM alone"
# the probe-gap documents' reference rows (studies/probe-gap/run.sh's centred probe): row -> its name there;
# the plain probe re-run beside it (same machine and precision) stands apart from the fair-budget probe
CENTRED_PROBE, PROBE_RERUN = "probe, centred: last layer", "probe: last layer (re-run beside the centred probe)"
GAP_REFERENCES = {CENTRED_PROBE: CENTRED_PROBE, PROBE_RERUN: PROBE}
# the default trained again beside the designs (run.sh's DESIGNS=default: the twin a centred default takes its
# training from, on the same machine and precision) stands apart from the fair-budget default too
DEFAULT_RERUN = "default (global_softmax): re-run beside the designs"
FAIR_ROWS = ("last", "global_softmax", PROBE, LLM_ALONE)  # read from the fair-budget run of the same seed
TRANSDUCTIVE = "†"  # centring fits each language's mean on its unlabelled test texts
DESIGNS = {  # run name in compare.json -> what the tables call it
    "global_softmax[projector=linear;projector.pooled=1]": "default + pooled token",
    "last[projector=pooled]": "pooled token alone (last layer)",
    "last[projector=pooled;projector.pooled=4]": "4 pooled tokens alone (last layer)",
    "global_softmax[center_languages=true]": f"default, centred {TRANSDUCTIVE}",
    "global_softmax[projector=linear;projector.pooled=1;center_languages=true]": f"default + pooled token, centred {TRANSDUCTIVE}",
    "last[projector=pooled;projector.pooled=4;center_languages=true]": f"4 pooled tokens alone, centred {TRANSDUCTIVE}",
}
LABELS = {"last": "last", "global_softmax": "default (global_softmax)", PROBE: PROBE, LLM_ALONE: LLM_ALONE, **DESIGNS,
          CENTRED_PROBE: f"probe, centred {TRANSDUCTIVE}: last layer", PROBE_RERUN: PROBE_RERUN, DEFAULT_RERUN: DEFAULT_RERUN}
# the rule's cost rank: the pooled token adds a Linear and a token; centring a pass over each language;
# the pooled tokens alone (1 or 4) replace the text's soft tokens, cheaper than any per-token design
# (centred: one pass over each language more)
COST = {**DESIGN_COST, "last[projector=pooled]": 0, "last[projector=pooled;projector.pooled=4]": 0,
        "last[projector=pooled;projector.pooled=4;center_languages=true]": 1,
        "global_softmax[projector=linear;projector.pooled=1]": 2,
        "global_softmax[center_languages=true]": 2,
        "global_softmax[projector=linear;projector.pooled=1;center_languages=true]": 3}
NO_RUNS = ["(no runs yet: bash studies/probe-gap/run.sh)"]


def task_rows(all_docs: dict[str, list[dict]], fair_key: str, gap_key: str, variants: dict[str, str] | None = None
              ) -> dict[str, list[tuple[dict, str]]]:
    """Row name -> [(the compare document holding it, its name there)] over the seeds any design ran
    on (in any variant): the fair-budget rows from the same seed's fair-budget document, the designs from
    their own, then the variants' designs (row name + the variant's suffix)."""
    variants = variants or {}
    gap_docs = all_docs.get(gap_key, [])
    variant_docs = [(doc, suffix) for key, suffix in variants.items() for doc in all_docs.get(key, [])]
    fair_by_seed = {doc["train_config"]["seed"]: doc for doc in all_docs.get(fair_key, [])}
    design_seeds = sorted({doc["train_config"]["seed"] for doc in gap_docs + [d for d, _ in variant_docs]})
    rows: dict[str, list[tuple[dict, str]]] = {}
    for fair in (fair_by_seed[seed] for seed in design_seeds if seed in fair_by_seed):
        for name in FAIR_ROWS:
            if name in seeds.columns(fair):
                rows.setdefault(name, []).append((fair, name))
    for doc in gap_docs:
        for name in DESIGNS:
            if name in doc["runs"]:
                rows.setdefault(name, []).append((doc, name))
        if "global_softmax" in doc["runs"]:
            rows.setdefault(DEFAULT_RERUN, []).append((doc, "global_softmax"))
        for row, name in GAP_REFERENCES.items():
            if name in doc.get("references", {}):
                rows.setdefault(row, []).append((doc, name))
    for doc, suffix in variant_docs:
        check_variant(doc, suffix)
        for name in doc["runs"]:
            rows.setdefault(name + suffix, []).append((doc, name))
    return rows


def check_variant(doc: dict, suffix: str) -> None:
    """A variant's rows say how they were trained: refuse a document whose runs were trained otherwise
    (e.g. other EXTRA flags into the variant's folder)."""
    variant = suffix.strip(" ()")
    folder, *_, wanted = VARIANTS[variant]
    trained = doc["train_config"]
    wrong = {k: trained.get(k) for k, v in wanted.items() if trained.get(k) != v}
    if wrong:
        raise DataError(f"results/{folder} (seed {trained.get('seed')}) holds runs trained with {wrong}, "
                        f"but its rows are labelled as trained with {wanted}: move them to a folder of their own")


def label(name: str, held: list[tuple[dict, str]] | None = None) -> str:
    """What the tables call a row (a variant's row: its design's label and the variant said, with the
    learning rates its runs in `held` tried, or the variant's grid in words without them)."""
    said, grid = next((v for suffix, v in SUFFIXES.items() if name.endswith(suffix)), ("", ""))
    rates = sorted({float(lr) for doc, n in held or [] for lr in doc["runs"].get(n, {}).get("lr_grid", {})})
    return LABELS.get(base(name), base(name)) + said.format(grid=f"lrs {', '.join(f'{r:g}' for r in rates)}"
                                                            if rates else grid)


def low_resource(doc: dict, name: str) -> float:
    return seeds.low_resource_mean(doc, name)


def probe_gap(all_docs: dict[str, list[dict]]) -> list[str]:
    """Per task and row: seeds, the chosen learning rate per seed, English dev (English fit), the
    low-resource average (transfer) and its difference from the probe, and from the centred probe †,
    of the same seeds."""
    lines = ["| task | design | seeds | lr per seed | English dev | low-resource average | "
             f"low-resource − probe (same seeds) | low-resource − centred probe {TRANSDUCTIVE} (same seeds) |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for task, keys in TASKS.items():
        rows = task_rows(all_docs, *keys)
        probes = {ref: {doc["train_config"]["seed"]: low_resource(doc, name) for doc, name in rows.get(ref, [])}
                  for ref in (PROBE, CENTRED_PROBE)}
        for name, held in rows.items():
            seed_list = [doc["train_config"]["seed"] for doc, _ in held]
            lrs = [doc["runs"][n].get("chosen_lr") if n in doc["runs"] else None for doc, n in held]
            low = [low_resource(doc, n) for doc, n in held]
            gaps = [gap_cell(name, ref, low, seed_list, by_seed) for ref, by_seed in probes.items()]
            lines.append(f"| {task} | {label(name, held)} | {', '.join(map(str, seed_list))} | "
                         f"{', '.join(f'{lr:g}' for lr in lrs) if all(lrs) else '—'} | "
                         f"{seeds.spread([seeds.dev_accuracy(doc, n) for doc, n in held])} | {seeds.spread(low)} | "
                         + " | ".join(gaps) + " |")
    return lines if len(lines) > 2 else NO_RUNS


def gap_cell(name: str, reference: str, low: list[float], seed_list: list[int], by_seed: dict[int, float]) -> str:
    """A row's low-resource average minus the reference's of the same seeds (seed mean ± half-range)."""
    gaps = [v - by_seed[s] for v, s in zip(low, seed_list) if s in by_seed]
    return "—" if name == reference or not gaps else seeds.spread(gaps)


def probe_gap_languages(all_docs: dict[str, list[dict]]) -> list[str]:
    """Per task and test language: every row's score, mean over the seeds it ran on (named in its
    column head where they are fewer than the most any row has)."""
    lines = []
    for task, keys in TASKS.items():
        rows = task_rows(all_docs, *keys)
        if not any(name in DESIGNS for name in rows):
            continue
        first = next(iter(rows.values()))[0][0]
        low = set(first["low_resource"])
        seeds_of = {name: sorted(doc["train_config"]["seed"] for doc, _ in held) for name, held in rows.items()}
        most = max(seeds_of.values(), key=len)
        heads = [label(name, held) + ("" if seeds_of[name] == most else f" (seed {', '.join(map(str, seeds_of[name]))})")
                 for name, held in rows.items()]
        lines += [f"{task} (accuracy %, mean over seeds {', '.join(map(str, most))} unless a column says otherwise)",
                  "", "| language | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(rows)]
        for lang in first["languages"]:
            cells = [f"{100 * statistics.mean(seeds.columns(doc)[n][lang] for doc, n in held):.1f}"
                     for held in rows.values()]
            lines.append(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines[:-1] if lines else NO_RUNS


def probe_gap_rule(all_docs: dict[str, list[dict]]) -> list[str]:
    """The default rule over the default and the designs that ran on both tasks at the fair budget;
    then, for each variant in which the default ran too, the same rule within it (every design on that
    variant's grid and budget, so the comparison is fair there as well)."""
    fair = {task: task_rows(all_docs, fair_key, gap_key) for task, (fair_key, gap_key, _) in TASKS.items()}  # no variant
    lines = rule_lines(fair, ["global_softmax", *DESIGNS])
    if lines is None:
        return ["(the rule needs the default and a design on both tasks: bash studies/probe-gap/run.sh)"]
    for variant, (_, said, grid, _) in VARIANTS.items():
        suffix = f" ({variant})"
        within = {task: task_rows(all_docs, fair_key, "", {key: suffix for key, v in variants.items() if v == suffix})
                  for task, (fair_key, _, variants) in TASKS.items()}
        found = rule_lines(within, [name + suffix for name in ("global_softmax", *DESIGNS)])
        if found is not None:
            lines += ["", f"Within the variant ({said.format(grid=grid).removeprefix(', ')}; the default and the designs on the same "
                      "grid and budget):", "", *found]
    return lines


def rule_lines(tasks: dict[str, dict], candidates: list[str]) -> list[str] | None:
    """English dev of each candidate that ran on every task (mean over its seeds per task, then over the
    tasks) and the rule's verdict; None unless the default and at least one design qualify."""
    means, lines = {}, ["| design | " + " | ".join(f"{task} English dev (seeds)" for task in tasks)
                        + " | mean of the tasks |", "|---" + "|---:" * (len(tasks) + 1) + "|"]
    for name in candidates:
        devs = [[seeds.dev_accuracy(doc, n) for doc, n in rows.get(name, [])] for rows in tasks.values()]
        if not all(devs):
            continue
        means[name] = statistics.mean(100 * statistics.mean(v) for v in devs)
        lines.append(f"| {label(name)} | " + " | ".join(f"{seeds.spread(v)} ({len(v)})" for v in devs)
                     + f" | {means[name]:.1f} |")
    if len(means) < 2 or candidates[0] not in means:
        return None
    best, cheaper, winner = apply_rule(means, {name: COST[base(name)] for name in means}, RULE_MARGIN)
    return lines + ["", f"Best English dev: {label(best)} ({means[best]:.1f}). Cheaper designs within "
                    f"{RULE_MARGIN:g} point: {', '.join(label(d) for d in cheaper) or 'none'}. "
                    f"By the rule the default is **{label(winner)}**."]


def base(name: str) -> str:
    """A row's design without its variant's suffix."""
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def probe_gap_grids(all_docs: dict[str, list[dict]]) -> list[str]:
    """Per task, design, seed and grid: English dev at every learning rate (the chosen one in bold),
    and the chosen run's English test (where the task has one) and low-resource average."""
    lines = ["| task | design | seed | English dev per learning rate | English test | low-resource average |",
             "|---|---|---:|---|---:|---:|"]
    for task, (_, gap_key, variants) in TASKS.items():
        for key, suffix in {gap_key: "", **variants}.items():
            for doc, (name, run) in ((doc, item) for doc in all_docs.get(key, []) for item in doc["runs"].items()):
                grid, chosen = run.get("lr_grid") or {}, run.get("chosen_lr")
                cells = [f"**{float(lr):g}: {100 * v:.1f}**" if float(lr) == chosen else f"{float(lr):g}: {100 * v:.1f}"
                         for lr, v in grid.items()]
                english = seeds.columns(doc)[name].get(doc.get("reference_lang") or "eng_Latn")
                shown = DEFAULT_RERUN if key == gap_key and name == "global_softmax" else name + suffix
                lines.append(f"| {task} | {label(shown, [(doc, name)])} | {doc['train_config']['seed']} | {' / '.join(cells)} | "
                             f"{'—' if english is None else f'{100 * english:.1f}'} | {100 * low_resource(doc, name):.1f} |")
    return lines if len(lines) > 2 else NO_RUNS


def blocks(all_docs: dict[str, list[dict]]) -> dict[str, list[str]]:
    return {"probe-gap": probe_gap(all_docs), "probe-gap-languages": probe_gap_languages(all_docs),
            "probe-gap-rule": probe_gap_rule(all_docs), "probe-gap-grids": probe_gap_grids(all_docs)}
