"""Regenerate the tables and plot of docs/generation.md from the raw runs under results/.

    python -m tools.generation_report [--results results] [--doc docs/generation.md]

Blocks between `<!-- generated: NAME -->` and `<!-- end generated -->` are rewritten; the prose
stays. `study`: every variant of studies/generation/variants.sh (quick evaluation, six languages);
`flores-en`: the per-language chrF++ table over seeds of studies/generation/flores_en.sh, with the
LLM-alone and copy rows and, where compare.json has them, 95% bootstrap intervals;
`flores-en-targets`: the issue's targets, measured; `flores-en-examples`: outputs for a few
sentences in several languages; `bitext`: studies/generation/bitext.sh, the English-only bridge
beside the bitext-stage one on the languages the bitext does not have; `bitext-budget`: the same
per stage-1 budget, low-resource averages only; `soft-token-reach`: those bridges' soft tokens read as
words (studies/generation/soft_token_reach.py) beside their chrF++; `content-recall`: the numbers, names
and other words of the references their outputs keep (studies/generation/content_recall.py);
`objectives`: the English-only objectives beside restating (tools/objectives_report.py).
`flores-en-budget`: the designs trained up to 2,000 steps beside restating at 200 (tools/budget_report.py);
`flores-en-budget-targets`: issue 30's targets against the best of them; `flores-en-budget-languages`: the
same per language, with the LLM-alone rows; `flores-en-budget-examples`: their outputs for the examples'
sentences; `flores-en-budget-versus`: the other designs on the budget paired with the soft tokens of the
same budget; `flores-en-budget-beams`: greedy decoding against beam search; `flores-en-budget-reach` and
`-recall`: their soft-token reach and content recall.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from layerbridge.errors import DataError
from tools import budget_report, run_record, seeds
from tools.blocks import fill_blocks
from tools.example_outputs import EVALUATION, GISTS, one_line, stored_examples
from tools.language_table import interval_of, language_table
from tools.objectives_report import objectives_block

STUDY = "generation-study"
FINAL = "flores-en/seed*"
STUDY_LANGS = ["eng_Latn", "hin_Deva", "swh_Latn", "tam_Taml", "sin_Sinh", "yor_Latn"]


def study_block(root: Path) -> list[str]:
    """One row per study variant and quick evaluation (from each variant's run.json): its settings,
    English dev chrF++, and quick-evaluation chrF++."""
    lines = ["| variant | settings | steps | final loss | dev chrF++ | " + " | ".join(STUDY_LANGS)
             + " | low-resource avg |", "|---|---|---:|---:|---:|" + "---:|" * (len(STUDY_LANGS) + 1)]
    records = {run.name: run_record.load(run) for run in sorted((root / STUDY).iterdir())
               if (run / run_record.RECORD).is_file()}
    for name, evaluation in sorted((name, evaluation) for name, record in records.items()
                                   for evaluation in record["evaluations"] if evaluation.startswith("eval-quick")):
        doc, train, cfg = (records[name]["evaluations"][evaluation], records[name]["train"],
                           records[name]["train_config"])
        decoding = doc.get("decoding", {})
        extra = [f"no-repeat {decoding['no_repeat_ngram_size']}-grams" if decoding.get("no_repeat_ngram_size") else "",
                 f"repetition penalty {decoding['repetition_penalty']:g}" if decoding.get("repetition_penalty", 1) != 1 else "",
                 f"{decoding['num_beams']} beams" if decoding.get("num_beams", 1) > 1 else ""]
        b = cfg["bridge"]
        settings = (f"{b['fusion']}, layers {b['layers']}, {b['projector']} ({b['projector_init']}), "
                    f"{b['llm_input']}{', chat' if b['chat_template'] else ''}{', centred' if b.get('center_languages') else ''}, "
                    f"lr {cfg['learning_rate']:g}" + (f", fusion lr {cfg['fusion_learning_rate']:g}"
                                                       if cfg["fusion_learning_rate"] else ""))
        chrf = {lang: r["chrf"] for lang, r in doc["languages"].items()}
        low = [lang for lang in STUDY_LANGS if lang in doc["summary"]["low_resource_languages"]]
        settings += "".join(f"; decoding: {e}" for e in extra if e)
        lines.append(f"| `{name}` | {settings} | {train['steps']} | {train['final_loss']:.2f} | "
                     f"{train.get('dev_chrf') or 0:.1f} | " + " | ".join(f"{chrf.get(l, float('nan')):.1f}" for l in STUDY_LANGS)
                     + f" | {statistics.mean(chrf[l] for l in low):.1f} |")
    return lines


def final_docs(root: Path) -> list[dict]:
    """compare.json of every seed (the reference rows live in the first seed's only)."""
    folders = sorted(p for p in root.glob(FINAL) if (p / "compare.json").is_file())
    docs = [json.loads((p / "compare.json").read_text()) for p in folders]
    if any(d["languages"] != docs[0]["languages"] or list(d["runs"]) != list(docs[0]["runs"]) for d in docs):
        raise SystemExit(f"{[str(p) for p in folders]}: the seeds differ in languages or runs")
    return docs


def final_block(docs: list[dict], plot_dir: Path, doc_dir: Path) -> list[str]:
    """The flores_en seeds' chrF++ per language (language_table)."""
    if not docs:
        return ["(no finished run under results/flores-en yet)"]
    return language_table(docs, plot_dir / "flores_en_chrf.png", doc_dir, "flores_en: chrF++ into English")


def targets_block(docs: list[dict]) -> list[str]:
    if not docs:
        return ["(no finished run yet)"]
    low, ref = docs[0]["low_resource"], docs[0]["reference_lang"]
    lines = ["| seed | bridge | low-resource avg chrF++ | copy ceiling (eng_Latn) | share of copy | LLM alone (trained) | "
             "ratio | LLM alone, zero-shot | ratio |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    zero = [seeds.columns(d).get("LLM alone, zero-shot") for d in docs]
    trained = [seeds.columns(d).get("LLM alone") for d in docs]
    pick = lambda values: next((v for v in values if v), None)  # noqa: E731  a reference row from any seed
    zero, trained = pick(zero), pick(trained)
    for d in docs:
        for name in d["runs"]:
            col = seeds.columns(d)[name]
            low_avg = statistics.mean(col[l] for l in low)
            ci = interval_of(d, name, "low_resource")  # None for the runs before intervals
            parts = [f"{low_avg:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""), f"{col[ref]:.1f}",
                     f"{100 * low_avg / col[ref]:.0f}%"]
            for reference in (trained, zero):
                if reference:
                    base = statistics.mean(reference[l] for l in low)
                    parts += [f"{base:.1f}", f"{low_avg / base:.2f}x"]
                else:
                    parts += ["—", "—"]
            lines.append(f"| {d['train_config']['seed']} | {name} | " + " | ".join(parts) + " |")
    return lines


BITEXT = "bitext/seed*"  # studies/generation/bitext.sh: stage1, stage2 (from stage1) and english-only per seed
BITEXT_BUDGETS = "bitext*/seed*"  # the same with other stage-1 budgets (STAGE1_STEPS), one OUT each
BITEXT_RUNS = {"english-only": "English only", "stage2": "bitext stage, then flores_en"}
BITEXT_EVAL = "eval-not-in-xnli"  # flores_en on the languages the bitext does not have


def bitext_docs(root: Path, pattern: str = BITEXT) -> list[dict]:
    """Per finished seed of bitext.sh: {"seed", "stage1", "stage2", "english-only"} run.json documents and
    "paired" (its summary.json: the paired interval of the difference; None before it was written). The
    English-only run is the one summary.json was paired against (another OUT's where bitext.sh reused it:
    ENGLISH_ONLY; its path relative to the repository, root's parent), else the seed folder's own."""
    found = []
    for folder in sorted(root.glob(pattern)):
        summary = folder / "summary.json"  # tools/paired_bootstrap.py: stage2 - english-only, paired
        paired = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else None
        english = folder / "english-only"
        if paired:
            first = Path(paired["first"])  # the English-only run's evaluation
            english = (first if first.is_absolute() else root.parent / first).parent
        runs = {"stage1": folder / "stage1", "stage2": folder / "stage2", "english-only": english}
        missing = [str(run) for run in runs.values() if not (run / run_record.RECORD).is_file()]
        if missing and paired:
            raise DataError(f"{summary}: no {run_record.RECORD} in {', '.join(missing)} (python -m tools.run_record RUN)")
        if missing:
            continue  # not finished
        docs = {name: run_record.load(run) for name, run in runs.items()}
        run_seeds = {name: doc["train_config"]["seed"] for name, doc in docs.items()}
        if len(set(run_seeds.values())) > 1:
            raise DataError(f"{folder}: its runs have different seeds ({run_seeds}); pair runs of one seed")
        found.append({"seed": run_seeds["stage2"], **docs, "paired": paired})
    return sorted(found, key=lambda d: d["seed"])


def low_resource_cells(docs: list[dict]) -> tuple[list[str], str]:
    """Each BITEXT_RUNS run's low-resource average over the seeds (mean ± half-range, 95% interval), and
    the difference stage2 - english-only with its paired interval where every seed has one."""
    low = {run: [d[run]["evaluations"][BITEXT_EVAL]["summary"] for d in docs] for run in BITEXT_RUNS}
    cells = [seeds.spread([s["low_resource_chrf"] for s in low[run]], scale=1)
             + seeds.mean_bounds([s.get("low_resource_chrf_ci95") for s in low[run]]) for run in BITEXT_RUNS]
    paired = [d["paired"]["low_resource"] for d in docs if d["paired"]]
    if paired and len(paired) == len(docs):
        return cells, seeds.paired_cell(paired)
    diff = statistics.mean(s["low_resource_chrf"] for s in low["stage2"]) - statistics.mean(
        s["low_resource_chrf"] for s in low["english-only"])
    return cells, f"{diff:+.1f}"


def bitext_block(root: Path) -> list[str]:
    """The English-only bridge beside the same design trained on the bitext first, on flores_en's
    languages outside the bitext: per language (mean ± half-range over seeds, 95% interval), the
    low-resource average and the copy ceiling; stage 1's own score on its held-out premises."""
    docs = bitext_docs(root)
    if not docs:
        return ["(no finished run yet: bash studies/generation/bitext.sh)"]
    evals = {run: [d[run]["evaluations"][BITEXT_EVAL] for d in docs] for run in BITEXT_RUNS}
    first = evals["english-only"][0]
    differ = [f"{run} seed {d['seed']}" for run in BITEXT_RUNS for d, e in zip(docs, evals[run])
              if list(e["languages"]) != list(first["languages"])]
    if differ:
        raise DataError(f"results/{BITEXT}: {', '.join(differ)} evaluated other languages than english-only seed "
                        f"{docs[0]['seed']} ({', '.join(first['languages'])}); evaluate every run on the same ones")
    langs, low = list(first["languages"]), set(first["summary"]["low_resource_languages"])
    cfg, stage1 = docs[0]["english-only"]["train_config"], [d["stage1"] for d in docs]
    lines = [f"Seeds {[d['seed'] for d in docs]}; {first['limit'] or 'all'} test sentences per language (the same ids "
             "in every language); chrF++, mean ± half-range over seeds, in brackets the 95% bootstrap interval "
             f"(its bounds averaged over seeds). Each flores_en run: {cfg['max_steps']} steps; stage 1: "
             f"{stage1[0]['train']['steps']} steps on {stage1[0]['train']['train_examples']} bitext pairs, "
             "chrF++ on its held-out premises "
             + seeds.spread([s["evaluations"]["eval-heldout"]["summary"]["average_chrf"] for s in stage1], scale=1)
             + ".", "", "| language | " + " | ".join(BITEXT_RUNS.values()) + " | difference |", "|---|---:|---:|---:|"]
    for lang in langs:
        cells = [seeds.spread([e["languages"][lang]["chrf"] for e in evals[run]], scale=1)
                 + seeds.mean_bounds([e["languages"][lang].get("chrf_ci95") for e in evals[run]]) for run in BITEXT_RUNS]
        diff = statistics.mean(e["languages"][lang]["chrf"] for e in evals["stage2"]) - statistics.mean(
            e["languages"][lang]["chrf"] for e in evals["english-only"])
        lines.append(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cells) + f" | {diff:+.1f} |")
    cells, diff = low_resource_cells(docs)
    lines.append("| **low-resource average** | " + " | ".join(f"**{c}**" for c in cells) + f" | **{diff}** |")
    if all(d["paired"] for d in docs):
        lines += ["", "The difference's interval is paired: the same resampled sentence ids for both bridges and every "
                  "language each round (tools/paired_bootstrap.py), so what is hard for both cancels."]
    return lines


def bitext_budget_block(root: Path) -> list[str]:
    """One row per stage-1 budget (each bitext.sh OUT): stage 1 on its held-out premises, then the
    low-resource averages of English only and of the two-stage bridge, their paired difference, and
    the copy ceiling (English) of both; mean ± half-range over seeds."""
    groups: dict[int, list[dict]] = {}
    for d in bitext_docs(root, BITEXT_BUDGETS):
        groups.setdefault(d["stage1"]["train"]["steps"], []).append(d)
    if not groups:
        return ["(no finished run yet: bash studies/generation/bitext.sh)"]
    lines = ["| stage 1 steps (epochs of its pairs) | seeds | stage 1 on its held-out premises | "
             + " | ".join(BITEXT_RUNS.values()) + " | difference (paired) | English: "
             + " / ".join(BITEXT_RUNS.values()) + " |", "|---:|---|---:|---:|---:|---:|---:|"]
    for steps, docs in sorted(groups.items()):
        stage1 = docs[0]["stage1"]
        epochs = steps * stage1["train_config"]["batch_size"] / stage1["train"]["train_examples"]
        cells, diff = low_resource_cells(docs)
        english = [seeds.spread([d[run]["evaluations"][BITEXT_EVAL]["languages"]["eng_Latn"]["chrf"] for d in docs], scale=1)
                   for run in BITEXT_RUNS]
        heldout = seeds.spread([d["stage1"]["evaluations"]["eval-heldout"]["summary"]["average_chrf"] for d in docs], scale=1)
        lines.append(f"| {steps} ({epochs:.2f}) | {', '.join(str(d['seed']) for d in docs)} | {heldout} | "
                     + " | ".join(cells) + f" | {diff} | {' / '.join(english)} |")
    return lines


REACH = run_record.SOFT_TOKEN_REACH  # its key in run.json's diagnostics
RECALL = run_record.CONTENT_RECALL


def diagnosed_columns(root: Path, key: str, runs: tuple[str, ...] = ("english-only", "stage1", "stage2")) -> dict[str, list[dict]]:
    """The bitext study's bridges (of `runs`) that have the diagnostic `key`: label -> run.json per seed
    (the English-only run once, however many stage-1 budgets were paired with it)."""
    columns: dict[str, dict[int, dict]] = {}
    for d in bitext_docs(root, BITEXT_BUDGETS):
        steps = d["stage1"]["train"]["steps"]
        labels = {"english-only": BITEXT_RUNS["english-only"], "stage1": f"stage 1 ({steps} steps, bitext only)",
                  "stage2": f"stage 2 (from the {steps}-step stage 1)"}
        for run in runs:
            if key not in d[run].get("diagnostics", {}):
                continue
            column = columns.setdefault(labels[run], {})
            if column.get(d["seed"], d[run]) != d[run]:
                raise DataError(f"results/{BITEXT_BUDGETS}: two runs for '{labels[run]}', seed {d['seed']}; one OUT per stage-1 budget")
            column[d["seed"]] = d[run]
    return {label: [by_seed[seed] for seed in sorted(by_seed)] for label, by_seed in columns.items()}


def flores_evaluation(run: dict) -> dict | None:
    """A run.json's flores_en evaluation on the languages outside the bitext: the bitext study's, or a compare
    run's (eval-generation, as tools/budget_report.py `diagnosed` shapes it); None for stage 1."""
    return run["evaluations"].get(BITEXT_EVAL) or run["evaluations"].get(EVALUATION)


def reach_cell(runs: list[dict], lang: str | None) -> str:
    """'reach (other sentences' reach) · chrF++' of one bridge over its seeds, for a language (None: the
    low-resource average); no chrF++ for a bridge not evaluated on flores_en (stage 1)."""
    found = [r["diagnostics"][REACH] for r in runs]
    own, other = ([s["summary"][f"low_resource_{k}"] if lang is None else s["languages"][lang][k] for s in found]
                  for k in ("reach", "reach_other"))
    scores = [flores_evaluation(r) for r in runs]
    chrf = "" if not all(scores) else " · " + seeds.spread(
        [e["summary"]["low_resource_chrf"] if lang is None else e["languages"][lang]["chrf"] for e in scores], scale=1)
    return f"{100 * statistics.mean(own):.0f}% ({100 * statistics.mean(other):.0f}%){chrf}"


def reach_correlation(runs: list[dict], low: list[str]) -> str | None:
    """Pearson's r of reach and chrF++ over the low-resource languages (seed means); None without chrF++
    or variation."""
    scores = [flores_evaluation(r) for r in runs]
    if not all(scores) or len(low) < 3:
        return None
    reach = [statistics.mean(r["diagnostics"][REACH]["languages"][lang]["reach"] for r in runs) for lang in low]
    chrf = [statistics.mean(e["languages"][lang]["chrf"] for e in scores) for lang in low]
    try:
        return f"{statistics.correlation(reach, chrf):.2f}"
    except statistics.StatisticsError:  # a constant column
        return None


def reach_block(root: Path, columns: dict[str, list[dict]] | None = None) -> list[str]:
    """Per language and bridge: the share of the English reference's words that its soft tokens land on
    (in parentheses: of the other sentences' references, what shared words give for nothing) and its
    flores_en chrF++; the low-resource average; the correlation of the two over the low-resource languages.
    `columns` (label -> run.json per seed): the bitext study's bridges unless given."""
    columns = diagnosed_columns(root, REACH) if columns is None else columns
    if not columns:
        return ["(not measured yet: python -m studies.generation.soft_token_reach RUN ...)"]
    first = next(iter(columns.values()))[0]["diagnostics"][REACH]
    langs, low = list(first["languages"]), first["summary"]["low_resource_languages"]
    differ = [label for label, runs in columns.items() for r in runs if list(r["diagnostics"][REACH]["languages"]) != langs]
    if differ:
        raise DataError(f"soft-token reach of {', '.join(differ)}: other languages than {', '.join(langs)}; measure every bridge on the same ones")
    lines = [f"Seeds {sorted({r['train_config']['seed'] for runs in columns.values() for r in runs})}; "
             f"{first['limit']} flores_en test sentences per language (evaluate's ids). Each cell: reach "
             "(the same soft tokens against the other sentences' references) · chrF++.", "",
             "| language | " + " | ".join(seeded(columns)) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(reach_cell(runs, lang) for runs in columns.values())
              + " |" for lang in langs]
    lines.append("| **low-resource average** | " + " | ".join(f"**{reach_cell(runs, None)}**" for runs in columns.values()) + " |")
    correlations = [f"- {label}: r = {r}" for label, runs in columns.items() if (r := reach_correlation(runs, low))]
    if correlations:
        lines += ["", f"Reach against chrF++ over the {len(low)} low-resource languages (Pearson):", *correlations]
    return lines


def seeded(columns: dict[str, list[dict]]) -> list[str]:
    """The columns' labels, each with its seeds when it has fewer than the table's (run.json per seed)."""
    found = {label: [r["train_config"]["seed"] for r in runs] for label, runs in columns.items()}
    every = [seed for seeds_of in found.values() for seed in seeds_of]
    return [seeds.with_seeds(label, seeds_of, every) for label, seeds_of in found.items()]


RECALL_KINDS = {"numbers": "numbers", "names": "names", "words": "other words"}  # content_recall's kinds


def recall_cell(runs: list[dict], kind: str, lang: str | None) -> str:
    """'recall (against other sentences' references)' of one bridge over its seeds, for a language
    (None: the low-resource average); '–' where the references hold no such word."""
    found = [r["diagnostics"][RECALL]["summary"]["low_resource"] if lang is None
             else r["diagnostics"][RECALL]["languages"][lang] for r in runs]
    if any(f[kind]["recall"] is None for f in found):
        return "–"
    own, other = (statistics.mean(f[kind][k] for f in found) for k in ("recall", "recall_other"))
    return f"{100 * own:.0f}% ({100 * other:.0f}%)"


def recall_block(root: Path, columns: dict[str, list[dict]] | None = None) -> list[str]:
    """Per bridge: the share of the English references' numbers, names and other words its outputs
    contain, in English (the copy) and on the low-resource average, with the chance level. `columns`
    (label -> run.json per seed): the bitext study's English-only and two-stage bridges unless given."""
    columns = diagnosed_columns(root, RECALL, runs=("english-only", "stage2")) if columns is None else columns
    if not columns:
        return ["(not measured yet: python -m studies.generation.content_recall RUN ...)"]
    first = next(iter(columns.values()))[0]["diagnostics"][RECALL]
    found = {label: [r["diagnostics"][RECALL] for r in runs] for label, runs in columns.items()}
    differ = [label for label, results in found.items() for f in results
              if (f["summary"]["low_resource_languages"], f["limit"]) != (first["summary"]["low_resource_languages"], first["limit"])]
    if differ:
        raise DataError(f"content recall of {', '.join(differ)}: other low-resource languages or sentences per "
                        "language than the first bridge's; evaluate every bridge the same way")
    if "eng_Latn" not in first["languages"] or not first["summary"]["low_resource_languages"]:
        raise DataError(f"content recall of {first['bridge']}: measure English (the copy) and the low-resource languages")
    counts = ", ".join(f"{first['languages']['eng_Latn'][kind]['reference_words']} {label}" for kind, label in RECALL_KINDS.items())
    lines = [f"Seeds {sorted({r['train_config']['seed'] for runs in columns.values() for r in runs})}; "
             f"{first['limit']} flores_en test sentences per language (evaluate's outputs). Their English references "
             f"hold {counts} (distinct per sentence). Each cell: the share the outputs contain (the same outputs "
             "against the other sentences' references).", "",
             "| reference words | " + " | ".join(seeded(columns)) + " |", "|---|" + "---:|" * len(columns)]
    for lang, where in (("eng_Latn", "English (the copy)"), (None, f"low-resource average ({len(first['summary']['low_resource_languages'])})")):
        lines += [f"| {label}, {where} | " + " | ".join(recall_cell(runs, kind, lang) for runs in columns.values()) + " |"
                  for kind, label in RECALL_KINDS.items()]
    return lines


EXAMPLE_LANGS = ["hin_Deva", "swh_Latn", "tam_Taml", "sin_Sinh", "amh_Ethi", "yor_Latn"]


def examples_block(root: Path) -> list[str]:
    """The first bridge's outputs for a few test ids in several languages (tools/example_outputs.py)."""
    folders = sorted(p for p in root.glob(FINAL) if (p / "compare.json").is_file())
    if not folders:
        return ["(no finished run yet)"]
    doc = json.loads((folders[0] / "compare.json").read_text())
    saved = stored_examples(folders[0], next(iter(doc["runs"])), EXAMPLE_LANGS)
    if saved is None:
        return ["(no examples.json yet)"]
    lines = [f"Outputs of `{saved['run']}` ({folders[0].name}) for the first {len(saved['ids'])} test sentences, each "
             "read in Hindi and five low-resource languages. The sentence's gist is in our words; the reference is the `index_id` "
             "of the data folder's `sib200/eng_Latn/test.jsonl`.", ""]
    for row_id in saved["ids"]:
        lines.append(f"**index_id {row_id}** ({GISTS.get(row_id, 'see the data folder')})")
        lines.append("")
        lines += [f"- {lang}: {one_line(out[row_id])}" for lang, out in saved["outputs"].items() if row_id in out]
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results")
    parser.add_argument("--doc", default="docs/generation.md")
    args = parser.parse_args(argv)
    root, doc = Path(args.results), Path(args.doc)
    docs = final_docs(root)
    blocks = {"study": study_block(root), "flores-en": final_block(docs, root / "plots", doc),
              "flores-en-targets": targets_block(docs), "flores-en-examples": examples_block(root),
              "bitext": bitext_block(root), "bitext-budget": bitext_budget_block(root), "soft-token-reach": reach_block(root),
              "content-recall": recall_block(root), "objectives": objectives_block(root),
              "flores-en-budget": budget_report.budget_block(root),
              "flores-en-budget-targets": budget_report.targets_block(root),
              "flores-en-budget-languages": budget_report.languages_block(root, root / "plots", doc),
              "flores-en-budget-examples": budget_report.examples_block(root),
              "flores-en-budget-versus": budget_report.versus_block(root),
              "flores-en-budget-beams": budget_report.beams_block(root),
              "flores-en-budget-reach": reach_block(root, budget_report.diagnosed(root, REACH)),
              "flores-en-budget-recall": recall_block(root, budget_report.diagnosed(root, RECALL))}
    print(f"rewrote {fill_blocks(doc, blocks)} generated blocks in {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
