"""The real-budget table of docs/generation.md (`flores-en-budget` block): each design of
studies/generation/budget.sh, trained up to 2,000 steps with its best dev weights kept (English dev, or for
the -xdev designs the dev rows read in other languages), beside the 200-step restating bridge that script
trains on the same machine and precision (restate-200: the same settings, languages and test sentences),
with each design's difference to that bridge paired over the same sentences (its summary.json,
tools/paired_bootstrap.py). Read by tools/generation_report.py.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from layerbridge.errors import DataError
from layerbridge.io import slug
from tools import run_record, seeds
from tools.example_outputs import EVALUATION, GISTS, one_line, stored_examples
from tools.language_table import language_table
from tools.objectives_report import RUN, row, same_languages, study_docs

BUDGET = "flores-en-budget"  # results/flores-en-budget/<design>/seed<N>/compare.json (+ summary.json)
DESIGNS = {  # design -> (label, its run in compare.json)
    "soft-tokens": ("soft tokens (global_softmax, lexical start)", "global_softmax"),
    "cross-attention": ("cross-attention (LayAlign), lexical start", "global_softmax[injection=cross_attention]"),
    "bitext-stage": ("bitext stage 1, then soft tokens", "global_softmax"),
    "bitext-stage-200": ("bitext stage 1, then soft tokens for 200 steps", "global_softmax"),
    "bitext-cross-attention": ("bitext stage 1, then cross-attention", "global_softmax[injection=cross_attention]"),
    "soft-tokens-xdev": ("soft tokens, dev in other languages", "global_softmax"),
    "bitext-stage-xdev": ("bitext stage 1, then soft tokens, dev in other languages", "global_softmax"),
}
BASELINE = "restate-200"  # results/flores-en-budget/restate-200/seed<N>: the 200-step bridge each design is paired with
BASELINE_LABEL = "restating, 200 steps (the baseline)"
VERSUS = "versus-soft-tokens.json"  # <design>/seed<N>/: the design minus the soft tokens of the same seed and budget
COLUMNS = {BASELINE: "restating, 200 steps", "soft-tokens": "soft tokens, up to 2,000 steps",
           "cross-attention": "cross-attention, up to 2,000 steps", "bitext-stage": "bitext stage 1, then soft tokens",
           "bitext-stage-200": "bitext stage 1, then 200 steps",
           "bitext-cross-attention": "bitext stage 1, then cross-attention",
           "soft-tokens-xdev": "soft tokens, dev in other languages",
           "bitext-stage-xdev": "bitext stage 1, then soft tokens, dev in other languages"}
# not English: restated, it is close to the data's own sentence (third-party text stays out of the repository)
EXAMPLE_LANGS = ["tam_Taml", "sin_Sinh", "amh_Ethi", "yor_Latn"]
NOTHING = ["(no finished run yet: nohup bash studies/generation/budget.sh results/flores-en-budget 0 &)"]


def budget_block(root: Path) -> list[str]:
    """The table: the 200-step baseline first, then one row per design with a finished seed."""
    found = all_runs(root)
    baseline = found.pop(BASELINE, [])
    if not found:
        return NOTHING
    same_languages({BASELINE: baseline, **found}, f"results/{BUDGET}")
    first = next(iter(found.values()))[0]["compare"]
    lines = [f"{first['eval_limit'] or 'all'} test sentences per language (the same ids in every language); the "
             f"low-resource average over {', '.join(first['low_resource'])}; chrF++, mean ± half-range over seeds, "
             "in brackets the 95% bootstrap interval. Dev: the best score kept, every 100 steps (32 English dev "
             "texts; for a design with its dev in other languages, the mean over those 32 rows read in each of "
             "them). The difference to the 200-step restating bridge is paired over the same sentences (each "
             "seed against that bridge of the same seed, machine and precision).", "",
             "| design | seeds | precision | stage 1 | steps | dev | English (copy ceiling) | low-resource "
             "average | minus 200-step restating (paired) |", "|---|---|---|---|---|---:|---:|---:|---:|"]
    if baseline:
        lines.append(row(BASELINE_LABEL, baseline, steps=True, stage1=stage1_cell(root, baseline)))
    return lines + [row(DESIGNS[design][0], runs, steps=True, stage1=stage1_cell(root, runs))
                    for design, runs in found.items()]


TARGETS = (  # issue 30: (what, the target, the designs it is measured on, the score read)
    ("English-only design, low-resource average", 25.0, "English only", "low"),
    ("bitext-stage design, low-resource languages outside the bitext", 30.0, "bitext stage", "low"),
    ("the copy ceiling: English restated", 85.0, "any", "eng_Latn"))


def targets_block(root: Path) -> list[str]:
    """Issue 30's targets against the best design of each kind (mean over its seeds, with its 95% interval,
    bounds averaged over seeds): English-only designs started from scratch and chose their weights on
    English dev, bitext-stage ones started from a stage-1 bridge (--init-from); a design trained on English
    but chosen on a dev set in other languages counts for the copy only; the 200-step baseline is no design.
    Beside it, the best of those decoded with beam search as well (budget.sh BEAMS), over the seeds of a
    design decoded so (beams_cell)."""
    found = all_runs(root)
    found.pop(BASELINE, None)
    if not found:
        return NOTHING
    lines = ["| target | goal | best design (greedy) | seeds | measured | met | best with beam search |",
             "|---|---:|---|---|---:|---|---|"]
    for what, goal, kind, score in TARGETS:
        kept = {design: runs for design, runs in found.items() if kind in ("any", design_kind(runs))}
        if not kept:
            lines.append(f"| {what} | {goal:.0f} | (not run yet) | — | — | — | — |")
            continue
        value, design = max((mean_score(runs, score), design) for design, runs in kept.items())
        runs = kept[design]
        bounds = [r["run"]["low_resource_chrf_ci95"] if score == "low" else r["run"]["results"][score].get("chrf_ci95")
                  for r in runs]
        lines.append(f"| {what} | {goal:.0f} | {DESIGNS[design][0]} | {', '.join(str(r['seed']) for r in runs)} | "
                     f"{value:.1f}{seeds.mean_bounds(bounds)} | {'**yes**' if value >= goal else 'no'} | "
                     f"{beams_cell(root, kept, score, goal)} |")
    return lines


def beams_cell(root: Path, designs: dict[str, list[dict]], score: str, goal: float) -> str:
    """The best design decoded with beams: "value [95% interval] (met): design, N beams", averaged over the
    seeds of it decoded so (decoded_with_beams; named when fewer than the design's); "—" where none was."""
    best = None
    for design, runs in designs.items():
        # (seed, beams, paired document) of each seed decoded with beams (its first such decoding)
        decoded = [(r["seed"], *found[0]) for r in runs if (found := decoded_with_beams(root, design, r["seed"]))]
        if not decoded:
            continue
        value = statistics.mean(beam_score(document, score) for _, _, document in decoded)
        bounds = seeds.mean_bounds([beam_interval(root, design, seed, beams, score) for seed, beams, _ in decoded])
        name = seeds.with_seeds(f"{DESIGNS[design][0]}, {decoded[0][1]} beams", [seed for seed, _, _ in decoded],
                                [r["seed"] for r in runs])
        candidate = (value, bounds, name)
        best = max(best, candidate) if best else candidate
    if best is None:
        return "—"
    return f"{best[0]:.1f}{best[1]} ({'**met**' if best[0] >= goal else 'not met'}): {best[2]}"


def beam_interval(root: Path, variant: str, seed: int, beams: str, score: str) -> list[float] | None:
    """The 95% bootstrap interval of a run's beam-search decoding (RUN/eval-beams<N>/results.json, evaluate's
    record): of its low-resource average ("low") or one language; None where that record is not kept."""
    path = run_folder(root, variant, seed) / f"eval-beams{beams}" / "results.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return (record["summary"].get("low_resource_chrf_ci95") if score == "low"
            else record["languages"].get(score, {}).get("chrf_ci95"))


def seed_folder(root: Path, variant: str, seed: int) -> Path:
    """results/flores-en-budget/<variant>/seed<N>: one seed's compare output (compare.json, summary.json, ...)."""
    return root / BUDGET / variant / f"seed{seed}"


def run_folder(root: Path, variant: str, seed: int) -> Path:
    """seed_folder/<its run>: the run folder compare writes (its name made file-system friendly:
    global_softmax-injection=cross_attention)."""
    return seed_folder(root, variant, seed) / slug(run_name(variant))


def decoded_with_beams(root: Path, variant: str, seed: int) -> list[tuple[str, dict]]:
    """(beams, paired document) of each beam-search evaluation of a run (budget.sh BEAMS:
    RUN/eval-beams<N>/summary.json, tools/paired_bootstrap.py: greedy first, beams second)."""
    return [(path.parent.name.removeprefix("eval-beams"), json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(run_folder(root, variant, seed).glob("eval-beams*/summary.json"))]


def beam_score(document: dict, score: str, side: str = "second") -> float:
    """A paired document's low-resource average ("low") or one language's chrF++, of its beam-search side
    ("second") or its greedy one ("first")."""
    scores = document["scores"][side]
    return statistics.mean(scores[l] for l in document["low_resource"]["languages"]) if score == "low" else scores[score]


def design_kind(runs: list[dict]) -> str:
    """"bitext stage" (started from a stage-1 bridge), "English only", or "other-language dev" (English
    training, the weights chosen on a dev set in other languages: --dev-languages)."""
    if two_stage(runs):
        return "bitext stage"
    return "other-language dev" if any(r["compare"]["train_config"].get("dev_languages") for r in runs) else "English only"


def two_stage(runs: list[dict]) -> bool:
    """Whether a design's seeds started from a stage-1 bridge (--init-from)."""
    return any(r["compare"]["train_config"].get("init_from") for r in runs)


def mean_score(runs: list[dict], score: str) -> float:
    """A design's low-resource average ("low") or one language's chrF++, averaged over its seeds."""
    return statistics.mean(r["run"]["summary"]["low_resource_chrf"] if score == "low"
                           else r["run"]["results"][score]["chrf"] for r in runs)


def stage1_cell(root: Path, runs: list[dict]) -> str:
    """The bridge a design's seeds started from (--init-from): its task and steps from its run.json
    (python -m tools.run_record), "—" for a bridge trained from scratch."""
    cells = []
    for r in runs:
        source = r["compare"]["train_config"].get("init_from")
        if not source:
            cells.append("—")
            continue
        path = Path(source) if Path(source).is_absolute() else root.parent / source
        if not (path / run_record.RECORD).is_file():
            raise DataError(f"{path}: no {run_record.RECORD}, the stage-1 bridge the budget table names "
                            f"(python -m tools.run_record {source})")
        train = run_record.load(path)["train"]
        cells.append(f"{train['task']}, {train['steps']:,} steps")
    return "; ".join(dict.fromkeys(cells))  # one cell per distinct stage 1


def run_name(variant: str) -> str:
    """The baseline's or a design's run in its compare.json (and its folder beside it)."""
    return RUN if variant == BASELINE else DESIGNS[variant][1]


def all_runs(root: Path) -> dict[str, list[dict]]:
    """The baseline and every design (study_docs), the baseline first."""
    return study_docs(root, BUDGET, {variant: run_name(variant) for variant in (BASELINE, *DESIGNS)})


def seed_docs(root: Path) -> list[dict]:
    """Per seed of the baseline: its compare.json (with the LLM-alone rows it was evaluated with), the designs
    of that seed added to its runs, each named by COLUMNS."""
    found = all_runs(root)
    return [{**base["compare"], "runs": {COLUMNS[variant]: r["run"] for variant, runs in found.items()
                                         for r in runs if r["seed"] == base["seed"]}}
            for base in found.get(BASELINE, [])]


def languages_block(root: Path, plot_dir: Path, doc: Path) -> list[str]:
    """chrF++ per language of the baseline, every design and the LLM alone, with 95% intervals
    (tools/language_table.py), once a design is finished beside the baseline."""
    docs = seed_docs(root)
    if not any(len(d["runs"]) > 1 for d in docs):
        return NOTHING
    return language_table(docs, plot_dir / "flores_en_budget_chrf.png", doc, "flores_en, a real budget: chrF++ into English")


def examples_block(root: Path) -> list[str]:
    """The same test sentences as the flores_en examples, in four low-resource languages, as the
    baseline and each design of the lowest seed write them (examples.json, tools/example_outputs.py)."""
    found = all_runs(root)
    if not found:
        return NOTHING
    seed = min(r["seed"] for runs in found.values() for r in runs)
    saved = {}
    for variant, runs in found.items():
        if any(r["seed"] == seed for r in runs):
            saved[variant] = stored_examples(seed_folder(root, variant, seed), run_name(variant), EXAMPLE_LANGS,
                                             ids=list(GISTS))
    saved = {variant: s for variant, s in saved.items() if s}
    if len(saved) < 2:
        return NOTHING
    lines = [f"Outputs for the flores_en examples' sentences (seed {seed}) in four low-resource languages; each "
             "sentence's gist is in our words (English is left out: restated, it is close to the data's own sentence).",
             ""]
    for row_id in GISTS:
        lines += [f"**index_id {row_id}** ({GISTS[row_id]})", ""]
        for lang in EXAMPLE_LANGS:
            lines.append(f"- {lang}:")
            lines += [f"  - {COLUMNS[variant]}: {one_line(s['outputs'][lang][row_id])}" for variant, s in saved.items()
                      if row_id in s["outputs"].get(lang, {})]
        lines.append("")
    return lines


def versus_block(root: Path) -> list[str]:
    """What another design on the budget (cross-attention, the bitext stage, a dev set in other languages)
    adds to the English-only soft tokens of the same seed and budget, paired over the same sentences
    (budget.sh: <design>/seed<N>/versus-soft-tokens.json), over the seeds of a design that have that pairing
    (a design's seed without soft tokens of its own seed has none; the seeds column names those that do):
    English, the low-resource average with its 95% interval (both averaged over those seeds) and the
    low-resource languages where the design scores higher."""
    lines = []
    for design, runs in all_runs(root).items():
        paired = {r["seed"]: path for r in runs if (path := seed_folder(root, design, r["seed"]) / VERSUS).is_file()}
        if not paired:
            continue
        documents = [json.loads(path.read_text(encoding="utf-8")) for path in paired.values()]
        low = documents[0]["low_resource"]["languages"]
        gain = {lang: statistics.mean(d["scores"]["second"][lang] - d["scores"]["first"][lang] for d in documents)
                for lang in documents[0]["scores"]["first"]}
        english = f"{round(gain['eng_Latn'], 1) + 0.0:+.1f}" if "eng_Latn" in gain else "—"  # + 0.0: no "-0.0"
        lines.append(f"| {DESIGNS[design][0]} | {', '.join(map(str, paired))} | {english} | "
                     f"{seeds.paired_cell([d['low_resource'] for d in documents])} | "
                     f"{sum(gain[lang] > 0 for lang in low)} of {len(low)} |")
    if not lines:
        return NOTHING
    return ["chrF++ of the design minus the soft tokens trained on the same budget (each seed against the soft "
            "tokens of the same seed), on the same sentences; the low-resource average's difference with its "
            "paired 95% interval.", "",
            "| design | seeds | English (the copy) | low-resource average | low-resource languages higher |",
            "|---|---|---:|---:|---:|", *lines]


def beams_block(root: Path) -> list[str]:
    """Greedy decoding against beam search, per language, for each run decoded both ways (budget.sh with
    BEAMS: RUN/eval-beams<N>/summary.json, tools/paired_bootstrap.py over the same sentences)."""
    found = [(f"{COLUMNS[variant]} (seed {r['seed']}), {beams} beams", document)  # (column label, paired document)
             for variant, runs in all_runs(root).items() for r in runs
             for beams, document in decoded_with_beams(root, variant, r["seed"])]
    if not found:
        return NOTHING
    languages, low = list(found[0][1]["scores"]["first"]), found[0][1]["low_resource"]["languages"]
    lines = ["chrF++ with greedy decoding / with beam search / the difference, on the same sentences (the saved "
             "decoding settings otherwise: no repeated 3-grams, up to 80 new tokens); the low-resource average's "
             "difference with its paired 95% interval.", "",
             "| language | " + " | ".join(label for label, _ in found) + " |", "|---|" + "---:|" * len(found)]
    for lang in languages:
        cells = [f"{d['scores']['first'][lang]:.1f} / {d['scores']['second'][lang]:.1f} / "
                 f"{d['scores']['second'][lang] - d['scores']['first'][lang]:+.1f}" for _, d in found]
        lines.append(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cells) + " |")
    averages = [f"{beam_score(d, 'low', 'first'):.1f} / {beam_score(d, 'low'):.1f} / {seeds.paired_cell([d['low_resource']])}"
                for _, d in found]
    return lines + ["| **low-resource average** | " + " | ".join(f"**{cell}**" for cell in averages) + " |"]


def diagnosed(root: Path, key: str) -> dict[str, list[dict]]:
    """label -> per seed, a run.json-shaped document (the seed, the run's evaluation from compare.json, the
    diagnostic `key`) of every run measured with it (RUN/<key>/results.json: studies/generation/
    soft_token_reach.py, content_recall.py), for tools/generation_report.py's reach and recall tables."""
    columns: dict[str, list[dict]] = {}
    for variant, runs in all_runs(root).items():
        for r in runs:
            path = run_folder(root, variant, r["seed"]) / key / "results.json"
            if path.is_file():
                columns.setdefault(COLUMNS[variant], []).append({
                    "train_config": {"seed": r["seed"]},
                    "evaluations": {EVALUATION: {"summary": r["run"]["summary"], "languages": r["run"]["results"]}},
                    "diagnostics": {key: json.loads(path.read_text(encoding="utf-8"))}})
    return columns

