"""Regenerate every table and plot of docs/results.md and docs/fusion-study.md from the raw runs
under results/.

    python -m tools.results_report [--results results] [--doc docs/results.md ...]

Both pages are prose plus generated blocks, each between `<!-- generated: NAME -->` and
`<!-- end generated -->`. This script rewrites only those blocks (and the PNGs under
results/plots/), so the prose stays and every number comes from the raw JSON (compare.json of each
run; summary.json of studies/token-gate/collapse.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from tools import probe_gap_report, seeds
from tools.default_rule import DESIGN_COST, RULE_MARGIN, apply_rule
from tools.blocks import block_names, fill_blocks

# task -> its compare folders (one per seed) under the results folder
TASKS = {
    "sib200": "fusion-study/sib200-seed*",
    "sinhala_news": "sinhala-news/seed*",
    "xnli": "xnli/seed*",
    "marc": "marc/seed*",
}
# further blocks: fusion options on SIB-200 (studies/fusion-study/options.sh)
STUDIES = {
    "sib200-plain": "fusion-study/sib200-plain-seed*",
    "sib200-layernorm": "fusion-study/sib200-layernorm-seed*",
    "sib200-upper-half": "fusion-study/sib200-upper-half-seed*",
    "sinhala-news-layernorm": "fusion-study/sinhala-news-layernorm-seed*",
    "sinhala-news-upper-half": "fusion-study/sinhala-news-upper-half-seed*",
    "sib200-bf16-token-layernorm-flr": "fusion-study/sib200-bf16-token-layernorm-flr-seed*",
    "sinhala-news-bf16-global": "fusion-study/sinhala-news-bf16-global-seed*",
    "sinhala-news-bf16-token-layernorm-flr": "fusion-study/sinhala-news-bf16-token-layernorm-flr-seed*",
    # the fair-budget study (studies/fair-budget/run.sh): every design at its English-dev-chosen lr
    "fair-sib200": "fair-budget/sib200/seed*",
    "fair-sinhala-news": "fair-budget/sinhala-news/seed*",
}
FAIR = {"SIB-200": "fair-sib200", "Sinhala news": "fair-sinhala-news"}
# options against the token gate's collapse and the probe gap (studies/fair-budget/options.sh):
# block name -> (its runs, what the option is (None: the run's own name says it), the fair-budget
# study it varies), each run against the fair-budget design of the same seed that it varies
FAIR_OPTIONS = {"fair-keep-best": ("fair-budget/sib200-keep-best-4-epochs/seed*",
                                   "4 epochs, best English-dev checkpoint of every 40 steps", "fair-sib200"),
                "fair-mlp": ("fair-budget/sib200-mlp/seed*", None, "fair-sib200"),
                "fair-label-smoothing": ("fair-budget/sib200-label-smoothing/seed*", "label smoothing 0.1", "fair-sib200"),
                "fair-gate-options": ("fair-budget/sib200-gate-options/seed*", None, "fair-sib200"),
                "fair-sinhala-label-smoothing": ("fair-budget/sinhala-news-label-smoothing/seed*", "label smoothing 0.1",
                                                 "fair-sinhala-news"),
                "fair-all-english": ("fair-budget/sinhala-news-all-english/seed*",
                                     "all 2003 English training rows (not 400)", "fair-sinhala-news")}
STUDIES |= {key: pattern for key, (pattern, _, _) in FAIR_OPTIONS.items()}
STUDIES |= probe_gap_report.STUDIES  # issue 32: the pooled token and centring beside the fair-budget rows
# the architectures study (studies/architectures/run.sh): per task, its fair-budget runs (the
# soft tokens and the probe, same settings) and one folder per design
ARCH_DESIGNS = ("cross-attention", "perceiver-32")
# (on flores_en, the soft tokens of studies/generation/flores_en.sh: the same settings and lr)
STUDIES["flores-en"] = "flores-en/seed*"
ARCHITECTURES = {"SIB-200": ("fair-sib200", "sib200"), "Sinhala news": ("fair-sinhala-news", "sinhala-news"),
                 "FLORES-200 into English (chrF++)": ("flores-en", "flores-en")}
STUDIES |= {f"arch-{folder}-{design}": f"architectures/{folder}/{design}/seed*"
            for _, folder in ARCHITECTURES.values() for design in ARCH_DESIGNS}
# the fair-budget runs shown beside the designs
ARCH_REFERENCES = ("global_softmax", "probe: last layer")
# the options tables, one per task: label -> its runs (all fp32, see studies/fusion-study/options.sh)
OPTIONS = {
    "sib200": {"none, all layers": "sib200-plain", "layernorm, all layers": "sib200-layernorm",
               "none, upper half": "sib200-upper-half"},
    "sinhala_news": {"none, all layers": "sinhala_news", "layernorm, all layers": "sinhala-news-layernorm",
                     "none, upper half": "sinhala-news-upper-half"},
}
# the stable token gate against the default, both in bf16 (studies/token-gate/stable.sh)
STABLE = {
    "sib200": {"none, all layers": "sib200", "layernorm, all layers, fusion lr 3e-4": "sib200-bf16-token-layernorm-flr"},
    "sinhala_news": {"none, all layers": "sinhala-news-bf16-global",
                     "layernorm, all layers, fusion lr 3e-4": "sinhala-news-bf16-token-layernorm-flr"},
}
# the token gate's collapse (studies/token-gate/collapse.py): its summary, one row per run
TOKEN_GATE = "fusion-study/token-gate/summary.json"
# the second real LLM (studies/gemma-sib200/run.sh) beside SmolLM2's runs of the same seed and settings
LLM_COMPARISON = {"SmolLM2-135M-Instruct": "fusion-study/sib200-seed0", "Gemma-3-270M": "gemma-sib200/seed0"}
LLM_COMPARISON_ROWS = ["last", "global_softmax", "LLM alone"]
HEADLINE_RUNS = ["last", "global_softmax", "token_softmax", "LLM alone", "probe: last layer"]


def headline(all_docs: dict[str, list[dict]]) -> list[str]:
    """One row per task and run: the average and the low-resource average (seed mean ± half-range)."""
    lines = ["| task | seeds | " + " | ".join(HEADLINE_RUNS) + " |", "|---|---" + "|---:" * len(HEADLINE_RUNS) + "|"]
    for task, docs in all_docs.items():
        for label, index in (("average", 0), ("low-resource average", 1)):
            if index and not docs[0]["low_resource"]:
                continue
            cells = []
            for name in HEADLINE_RUNS:
                cells.append(seeds.spread(seeds.averages(docs, name)[index]) if name in seeds.names(docs) else "—")
            lines.append(f"| {task}, {label} | {len(docs)} | " + " | ".join(cells) + " |")
    return lines


def deltas(all_docs: dict[str, list[dict]]) -> list[str]:
    """Fusion minus last layer, per seed then averaged: the quantity the paper reports."""
    lines = ["| task | global_softmax − last, average | token_softmax − last, average | "
             "global_softmax − last, low-resource | token_softmax − last, low-resource |", "|---|---:|---:|---:|---:|"]
    for task, docs in all_docs.items():
        cells = []
        for index in (0, 1):
            for fusion in ("global_softmax", "token_softmax"):
                if index and not docs[0]["low_resource"]:
                    cells.append("—")
                    continue
                diff = [f - b for f, b in zip(seeds.averages(docs, fusion)[index], seeds.averages(docs, "last")[index])]
                cells.append(f"{'+' if statistics.mean(diff) >= 0 else ''}{seeds.spread(diff)}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines


def options(all_docs: dict[str, list[dict]], studies: dict[str, str]) -> list[str]:
    """One row per (normalisation, layers, fusion): English dev and the two test averages, the row
    with the best dev accuracy in bold (dev is the only selection criterion)."""
    rows = []
    for label, study in studies.items():
        for fusion in ("global_softmax", "token_softmax"):
            docs = all_docs.get(study)
            if not docs or fusion not in docs[0]["runs"]:
                continue
            dev = [seeds.dev_accuracy(d, fusion) for d in docs]
            avg, low_avg = seeds.averages(docs, fusion)
            rows.append((statistics.mean(dev), [label, fusion, str(len(docs)), seeds.spread(dev), seeds.spread(avg),
                                                seeds.spread(low_avg)]))
    if not rows:
        return ["(no runs yet)"]
    lines = ["| normalisation, layers | fusion | seeds | English dev (selection) | average, all languages | "
             "low-resource average |", "|---|---|---|---:|---:|---:|"]
    best = max(dev for dev, _ in rows)
    for dev, cells in rows:
        if dev == best:
            cells = cells[:3] + [f"**{c}**" for c in cells[3:]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def token_gate_table(rows: list[dict]) -> list[str]:
    """The token gate's summary (studies/token-gate/collapse.py), one row per run, as a Markdown table."""
    lines = ["| fusion | normalisation | variant | init | fusion lr | seed | English dev | English test | "
             "low-resource (5) | top hidden state (weight) |", "|---|---|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['fusion']} | {r['norm']} | {r['variant']} | {r['init'] or 'random'} | {r['flr'] or 'same'} | "
                     f"{r['seed']} | {100 * r['dev_accuracy']:.1f} | {100 * r['english']:.1f} | "
                     f"{100 * r['low_resource']:.1f} | {r['top_hidden_state']} ({r['top_weight']:.2f}) |")
    return lines


def token_gate(summary: Path) -> list[str]:
    if not summary.is_file():
        return ["(no runs yet)"]
    return token_gate_table(json.loads(summary.read_text()))


def llm_comparison(results: Path) -> list[str]:
    """Per-language SIB-200 accuracy of the same bridges with SmolLM2 and with Gemma-3-270M."""
    docs = {llm: json.loads((results / folder / "compare.json").read_text())
            for llm, folder in LLM_COMPARISON.items() if (results / folder / "compare.json").is_file()}
    if len(docs) < len(LLM_COMPARISON):
        return ["(no runs yet: bash studies/gemma-sib200/run.sh)"]

    def column(doc, row):
        if row in doc["runs"]:
            return {lang: r["accuracy"] for lang, r in doc["runs"][row]["results"].items()}
        return doc["references"][row]["accuracy"]

    columns = {f"{llm}: {row}": column(doc, row) for llm, doc in docs.items() for row in LLM_COMPARISON_ROWS}
    first = next(iter(docs.values()))
    languages, low = first["languages"], set(first["low_resource"])
    cell = lambda v: f"{100 * v:.1f}"  # noqa: E731
    lines = [f"Task `sib200`, seed 0, {first['eval_limit']} test sentences per language, preset "
             f"`{first['train_config']['preset']}`, precision {first['train_config']['mixed_precision']}, mode `rank`; "
             "accuracy %.", "", "| language | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for lang in languages:
        lines.append(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cell(c[lang]) for c in columns.values()) + " |")
    for name, subset in (("average", languages), ("low-resource average", [l for l in languages if l in low])):
        lines.append(f"| **{name}** | " + " | ".join(f"**{cell(statistics.mean(c[l] for l in subset))}**"
                                                   for c in columns.values()) + " |")
    return lines


def fair_budget_grid(all_docs: dict[str, list[dict]]) -> list[str]:
    """Per task, design and seed: English dev accuracy at every learning rate of the grid (the chosen
    one in bold), and the chosen run's mean per-token layer-weight entropy over the test languages."""
    lines = ["| task | design | seed | English dev at lr 3e-4 / 1e-3 / 3e-3 | chosen lr | layer-weight entropy, nats |",
             "|---|---|---:|---|---:|---:|"]
    for task, key in FAIR.items():
        for doc in all_docs.get(key, []):
            for name, run in {**doc["runs"], **{"LLM alone": r for r in [doc.get("references", {}).get("LLM alone")] if r}}.items():
                grid, chosen = run.get("lr_grid"), run.get("chosen_lr")
                if not grid:
                    continue
                cells = [f"**{100 * v:.1f}**" if float(lr) == chosen else f"{100 * v:.1f}" for lr, v in grid.items()]
                entropy = run.get("weight_entropy")
                mean_entropy = f"{statistics.mean(entropy.values()):.3f}" if entropy else "—"
                lines.append(f"| {task} | {name} | {doc['train_config']['seed']} | {' / '.join(cells)} | {chosen:g} | "
                             f"{mean_entropy} |")
    return lines if len(lines) > 2 else ["(no runs yet: bash studies/fair-budget/run.sh)"]


def fair_budget_rule(all_docs: dict[str, list[dict]]) -> list[str]:
    """The rule applied: per design, English dev (mean over seeds) on each task and over both; the
    winner, and a cheaper design within RULE_MARGIN points of it if there is one."""
    tasks = {task: all_docs[key] for task, key in FAIR.items() if key in all_docs}
    if len(tasks) < len(FAIR):
        return ["(no runs yet: bash studies/fair-budget/run.sh)"]
    lines = ["| design | " + " | ".join(f"{t} English dev (seeds)" for t in tasks) + " | mean of the tasks |",
             "|---" + "|---:" * (len(tasks) + 1) + "|"]
    means = {}
    for design in DESIGN_COST:
        devs = {t: [seeds.dev_accuracy(d, design) for d in docs if design in d["runs"]] for t, docs in tasks.items()}
        if not all(devs.values()):
            continue
        means[design] = statistics.mean(100 * statistics.mean(v) for v in devs.values())
        lines.append(f"| {design} | " + " | ".join(f"{seeds.spread(v)} ({len(v)})" for v in devs.values())
                     + f" | {means[design]:.1f} |")
    best, cheaper, winner = apply_rule(means)
    lines += ["", f"Best English dev: `{best}` ({means[best]:.1f}). Cheaper designs within {RULE_MARGIN:g} point: "
              f"{', '.join(f'`{d}`' for d in cheaper) or 'none'}. By the rule the default is **`{winner}`**."]
    return lines


FAIR_HEADLINE_RUNS = ["last", "global_softmax", "global_softmax[parameterisation=plain]", "token_softmax",
                      "probe: last layer"]


def fair_headline(all_docs: dict[str, list[dict]]) -> list[str]:
    """Per task of the fair-budget study: the low-resource average of each design at its dev-chosen
    learning rate (seed mean ± half-range), and the default minus `last`, per seed then averaged."""
    lines = ["| task | seeds | " + " | ".join(FAIR_HEADLINE_RUNS) + " | global_softmax − last |",
             "|---|---" + "|---:" * (len(FAIR_HEADLINE_RUNS) + 1) + "|"]
    for task, key in FAIR.items():
        docs = all_docs.get(key)
        if not docs:
            continue
        low = {name: seeds.averages(docs, name)[1] for name in FAIR_HEADLINE_RUNS if name in seeds.names(docs)}
        diff = [f - b for f, b in zip(low["global_softmax"], low["last"])]
        sign = "+" if statistics.mean(diff) >= 0 else ""  # as deltas() writes it
        lines.append(f"| {task}, low-resource average | {len(docs)} | "
                     + " | ".join(seeds.spread(low[n]) if n in low else "—" for n in FAIR_HEADLINE_RUNS)
                     + f" | {sign}{seeds.spread(diff)} |")
    return lines if len(lines) > 2 else ["(no runs yet: bash studies/fair-budget/run.sh)"]


def option_runs(all_docs: dict[str, list[dict]]):
    """Per option run of studies/fair-budget/options.sh: (task, option label, the run's name, the
    fair-budget design it varies, [(the option's document, the fair-budget document of the same seed
    or None)] over its seeds)."""
    task_names = {key: task for task, key in FAIR.items()}
    for key, (_, what, base_key) in FAIR_OPTIONS.items():
        base_by_seed = {d["train_config"]["seed"]: d for d in all_docs.get(base_key, [])}
        docs = all_docs.get(key, [])
        for name in docs[0]["runs"] if docs else []:
            option, design = (f"{name}, {what}", name) if what else (name, name.split("[")[0])
            yield task_names[base_key], option, name, design, [(d, base_by_seed.get(d["train_config"]["seed"])) for d in docs]


def option_cells(name: str, design: str, pairs: list[tuple[dict, dict | None]]) -> list[str]:
    """English dev and low-resource average of the option, of the design without it and of the
    probe (the same seeds; the low-resource languages the option was tested on), mean ± half-range."""
    def spread(values):
        return seeds.spread(values) if values and None not in values else "—"

    low = [seeds.language_mean(doc, name, doc["low_resource"]) for doc, _ in pairs]
    bases = [(doc["low_resource"], base) for doc, base in pairs if base is not None]
    base_dev = [seeds.dev_accuracy(base, design) if design in base["runs"] else None for _, base in bases]
    base_low = [seeds.language_mean(base, design, langs) for langs, base in bases]
    probe_low = [seeds.language_mean(base, "probe: last layer", langs) for langs, base in bases]
    return [spread([seeds.dev_accuracy(doc, name) for doc, _ in pairs]), spread(low),
            f"{spread(base_dev)} / {spread(base_low)}" if bases else "—", spread(probe_low) if bases else "—"]


def fair_options(all_docs: dict[str, list[dict]]) -> list[str]:
    """Each option run of studies/fair-budget/options.sh beside the fair-budget design it varies,
    same task, seed and learning rate: English dev, the low-resource average, the layer weights' entropy."""
    lines = ["| task | option | seed | lr | English dev | low-resource average | the design without it: dev / "
             "low-resource | probe, last layer: low-resource | layer-weight entropy, nats: option / without it |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]

    def entropy(doc, name):
        run = doc["runs"].get(name, {}) if doc else {}
        return f"{statistics.mean(run['weight_entropy'].values()):.3f}" if run.get("weight_entropy") else "—"

    for task, option, name, design, pairs in option_runs(all_docs):
        for doc, base in pairs:
            dev, low, without, probe = option_cells(name, design, [(doc, base)])
            lines.append(f"| {task} | {option} | {doc['train_config']['seed']} | {doc['train_config']['learning_rate']:g} | "
                         f"{dev} | {low} | {without} | {probe} | {entropy(doc, name)} / {entropy(base, design)} |")
    return lines if len(lines) > 2 else ["(no runs yet: bash studies/fair-budget/options.sh)"]


def fair_options_over_seeds(all_docs: dict[str, list[dict]]) -> list[str]:
    """Each option run on several seeds, against the design it varies and the probe on the same
    seeds: English dev and the low-resource average, mean ± half-range."""
    lines = ["| task | option | seeds | English dev | low-resource average | the design without it: dev / low-resource | "
             "probe, last layer: low-resource |", "|---|---|---|---:|---:|---:|---:|"]
    for task, option, name, design, pairs in option_runs(all_docs):
        if len(pairs) > 1:
            seed_list = ", ".join(str(doc["train_config"]["seed"]) for doc, _ in pairs)
            lines.append(f"| {task} | {option} | {seed_list} | " + " | ".join(option_cells(name, design, pairs)) + " |")
    return lines if len(lines) > 2 else ["(no option has run on two seeds yet)"]


def score_scale(doc: dict) -> int:
    """What turns a compare document's scores into the tables' numbers: accuracy (0..1) x 100,
    chrF++ (already 0..100) x 1."""
    return 1 if doc.get("metric") == "chrf" else 100


def architecture_designs(all_docs: dict[str, list[dict]]) -> list[str]:
    """Per task, seed and design: the chosen lr, English dev, training examples/s of the chosen run
    and the test averages (accuracy, or chrF++ for generation); beside them, the soft tokens
    (global_softmax) and the probe of the fair-budget study on the same seeds."""
    lines = ["| task | seed | design | lr | English dev | training examples/s | average | low-resource average |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for task, (fair_key, folder) in ARCHITECTURES.items():
        rows = architecture_rows(all_docs, fair_key, folder)
        for doc, name, scores in sorted(rows, key=lambda row: row[0]["train_config"]["seed"]):
            run = doc["runs"].get(name, {})
            low = [scores[lang] for lang in doc["low_resource"]]
            train = run.get("train", {})
            scale = score_scale(doc)
            dev = seeds.dev_accuracy(doc, name) if scale == 100 else train.get("dev_chrf")
            lr = run.get("chosen_lr") or (doc["train_config"]["learning_rate"] if name in doc["runs"] else None)
            speed = train.get("examples_per_second")
            cells = [task, str(doc["train_config"]["seed"]), name, f"{lr:g}" if lr else "—",
                     "—" if dev is None else f"{scale * dev:.1f}", f"{speed:.2f}" if speed else "—",
                     f"{scale * statistics.mean(scores.values()):.1f}", f"{scale * statistics.mean(low):.1f}" if low else "—"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else ["(no runs yet: bash studies/architectures/run.sh)"]


def architecture_rows(all_docs: dict[str, list[dict]], fair_key: str, folder: str) -> list[tuple[dict, str, dict]]:
    """(compare document, design, its scores per language) of one task of the architectures study:
    every design run, and the soft tokens and probe of the seeds the designs ran on."""
    keys = [fair_key] + [f"arch-{folder}-{design}" for design in ARCH_DESIGNS]
    design_seeds = {doc["train_config"]["seed"] for key in keys[1:] for doc in all_docs.get(key, [])}
    return [(doc, name, scores) for key in keys for doc in all_docs.get(key, [])
            for name, scores in seeds.columns(doc).items()
            if key != fair_key or (name in ARCH_REFERENCES and doc["train_config"]["seed"] in design_seeds)]


def architecture_languages(all_docs: dict[str, list[dict]]) -> list[str]:
    """Per task and language: each design's score (accuracy, or chrF++), mean over its seeds."""
    lines = []
    for task, (fair_key, folder) in ARCHITECTURES.items():
        rows = architecture_rows(all_docs, fair_key, folder)
        if not rows:
            continue
        names = list(dict.fromkeys(name for _, name, _ in rows))
        scale = score_scale(rows[0][0])
        low = set(rows[0][0]["low_resource"])
        per_name = {name: [scores for _, n, scores in rows if n == name] for name in names}
        runs = {name: len(per_name[name]) for name in names}
        lines += [f"{task} (seeds per design: " + ", ".join(f"{name} {runs[name]}" for name in names) + ")", "",
                  "| language | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for lang in sorted({lang for _, _, scores in rows for lang in scores}):
            cells = []
            for name in names:
                values = [scores[lang] for scores in per_name[name] if lang in scores]
                cells.append(f"{scale * statistics.mean(values):.1f}" if values else "—")
            lines.append(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines[:-1] if lines else ["(no runs yet: bash studies/architectures/run.sh)"]


def task_block(task: str, docs: list[dict], plot_dir: Path, doc_dir: Path) -> list[str]:
    low = docs[0]["low_resource"]
    lines = [seeds.setup_line(docs), "", *seeds.headline(docs), ""]
    if low:
        lines += [f"Low-resource languages ({len(low)}): {', '.join(low)}", ""]
    lines += [*seeds.per_language(docs), "", "Layers carrying the most weight (mean over languages):", "",
              *seeds.layer_weight_lines(docs), ""]
    for caption, path in seeds.write_plots(docs, plot_dir / task):
        lines += [f"![{caption}]({os.path.relpath(path, doc_dir)})", ""]
    return lines[:-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", type=Path)
    parser.add_argument("--doc", nargs="+", type=Path, default=[Path("docs/results.md"), Path("docs/fusion-study.md")])
    args = parser.parse_args(argv)

    all_docs = {}
    for task, pattern in {**TASKS, **STUDIES}.items():
        folders = sorted(args.results.glob(pattern))
        unfinished = [f for f in folders if not (f / "compare.json").is_file()]
        if unfinished:
            print(f"results_report: left out unfinished runs {[str(f) for f in unfinished]}", file=sys.stderr)
        folders = [f for f in folders if f not in unfinished]
        if folders:
            all_docs[task] = seeds.load(folders, same_runs=task not in probe_gap_report.STUDIES)  # designs differ by seed
        else:
            print(f"results_report: no runs for {task} ({args.results / pattern})", file=sys.stderr)
    tasks = {task: docs for task, docs in all_docs.items() if task in TASKS}
    blocks = {"headline": headline(tasks), "fair-budget-grid": fair_budget_grid(all_docs),
              "fair-budget-rule": fair_budget_rule(all_docs), "fair-options": fair_options(all_docs),
              "fair-options-seeds": fair_options_over_seeds(all_docs),
              "fair-headline": fair_headline(all_docs), **probe_gap_report.blocks(all_docs),
              "arch-designs": architecture_designs(all_docs), "arch-languages": architecture_languages(all_docs), "llm-gemma": llm_comparison(args.results), "deltas": deltas(tasks), "token-gate": token_gate(args.results / TOKEN_GATE),
              **{f"options-{task}": options(all_docs, studies) for task, studies in OPTIONS.items()},
              **{f"bf16-{task}": options(all_docs, studies) for task, studies in STABLE.items()}}
    for doc_path in args.doc:
        names = block_names(doc_path.read_text())
        page_blocks = {**blocks, **{name: task_block(name, docs, args.results / "plots", doc_path.parent)
                                    for name, docs in all_docs.items() if name in names}}
        page_blocks.update({name: ["(no runs yet)"] for name in (*TASKS, *STUDIES) if name not in page_blocks})
        print(f"rewrote {fill_blocks(doc_path, page_blocks)} generated blocks in {doc_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
