"""95% bootstrap intervals of corpus chrF++ and BLEU over test sentences.

A corpus metric is not a mean of sentence scores, so each resample draws the sentences with
replacement, sums their sufficient statistics (sacrebleu's per-sentence n-gram counts) and computes
the metric from the sums, as sacrebleu's own `corpus_score(..., n_bootstrap=N)` does. We do not call
that: it seeds itself from the SACREBLEU_SEED environment variable and reports a half-width around
the resamples' mean; here the seed is ours (the same interval in every environment) and the
interval is the 2.5th and 97.5th percentiles of the resampled scores.

An average over languages of parallel test sets (flores_en: the same sentence ids in every
language) is resampled jointly: every round draws one multiset of ids and applies it to every
language, so a hard sentence is hard in all of them at once (`mean_interval`).
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 1000  # bootstrap rounds
SEED = 12345  # numpy's default_rng seed (sacrebleu's default, fixed here rather than read from the environment)
LEVEL = 0.95
BOOTSTRAPPED = ("chrf", "bleu")  # corpus metrics with sufficient statistics
JOINT = "joint: the same resampled sentence ids in every language each round"
INDEPENDENT = "independent: the languages' sentence ids differ, so each language is resampled on its own"


def metric(name: str):
    """The sacrebleu metric object of `text_metrics` (chrF++: word_order=2; BLEU: its defaults)."""
    from sacrebleu.metrics import BLEU, CHRF

    return CHRF(word_order=2) if name == "chrf" else BLEU()


def sentence_statistics(name: str, hypotheses: list[str], references: list[str]) -> np.ndarray:
    """One row of sufficient statistics per sentence (sacrebleu's own extraction), shape (n, d)."""
    scorer = metric(name)
    return np.asarray(scorer._extract_corpus_statistics(hypotheses, [references]), dtype=np.float64)


def score_from_totals(name: str, totals: np.ndarray, scorer=None) -> float:
    """The corpus score of summed statistics (what sacrebleu computes for the whole corpus)."""
    scorer = scorer or metric(name)
    return float(scorer._compute_score_from_stats(totals).score)


def resample_counts(n: int, *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """How often each of n sentences is drawn in each round, shape (resamples, n); each row sums to n."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)


def resampled_scores(name: str, statistics: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The corpus score of every round: the counts weight each sentence's statistics before the sum."""
    scorer = metric(name)
    return np.array([score_from_totals(name, totals, scorer) for totals in counts @ statistics])


def percentile_interval(scores: np.ndarray, level: float = LEVEL) -> list[float]:
    """[low, high]: the central `level` share of the resampled scores, rounded to 4 decimals."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(scores, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]


def settings(resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """The record of how an interval was drawn (kept beside it)."""
    return {"resamples": resamples, "seed": seed, "level": LEVEL, "unit": "sentence", "interval": "percentile"}


def interval(name: str, hypotheses: list[str], references: list[str], *, resamples: int = RESAMPLES,
             seed: int = SEED) -> list[float] | None:
    """The 95% interval of one language's corpus score; None without sentences."""
    if not hypotheses:
        return None
    statistics = sentence_statistics(name, hypotheses, references)
    counts = resample_counts(len(hypotheses), resamples=resamples, seed=seed)
    return percentile_interval(resampled_scores(name, statistics, counts))


def intervals(metrics, hypotheses: list[str], references: list[str], *, resamples: int = RESAMPLES,
              seed: int = SEED) -> dict:
    """A language's result keys: `<metric>_ci95` for each bootstrapped metric asked for, and `bootstrap`
    (how they were drawn); {} when there is none."""
    names = [m for m in metrics if m in BOOTSTRAPPED]
    if not names or not hypotheses:
        return {}
    found = {f"{m}_ci95": interval(m, hypotheses, references, resamples=resamples, seed=seed) for m in names}
    return {**found, "bootstrap": settings(resamples, seed)}


def mean_interval(name: str, languages: dict[str, dict[str, tuple[str, str]]], *, resamples: int = RESAMPLES,
                  seed: int = SEED) -> dict | None:
    """The 95% interval of the mean over languages of their corpus scores. `languages`: language ->
    {sentence id: (output, reference)}. With the same ids in every language one draw of ids per
    round serves all of them (joint); otherwise each language is resampled on its own (independent).
    Returns {"ci95", "joint", "resampling", "languages", "sentences", **settings}; None without languages."""
    languages = {lang: rows for lang, rows in languages.items() if rows}
    if not languages:
        return None
    id_sets = {frozenset(rows) for rows in languages.values()}
    joint = len(id_sets) == 1
    rng = np.random.default_rng(seed)
    shared = None
    per_language = []
    for lang, rows in languages.items():
        ids = sorted(rows)
        statistics = sentence_statistics(name, [rows[i][0] for i in ids], [rows[i][1] for i in ids])
        if shared is None or not joint:
            shared = rng.multinomial(len(ids), np.full(len(ids), 1.0 / len(ids)), size=resamples)
        per_language.append(resampled_scores(name, statistics, shared))
    sentences = sorted({len(rows) for rows in languages.values()})
    return {"ci95": percentile_interval(np.mean(per_language, axis=0)), "joint": joint,
            "resampling": JOINT if joint else INDEPENDENT, "languages": list(languages),
            "sentences": sentences[0] if len(sentences) == 1 else sentences, **settings(resamples, seed)}


def system_statistics(name: str, system: dict[str, dict[str, tuple[str, str]]]
                      ) -> dict[str, tuple[list[str], np.ndarray]]:
    """{language: (its sentence ids, sorted; their statistics, shape (n, d))} of one system's
    {language: {sentence id: (output, reference)}}: all a paired interval needs, and no text."""
    found = {}
    for lang, rows in system.items():
        ids = sorted(rows)
        found[lang] = (ids, sentence_statistics(name, [rows[i][0] for i in ids], [rows[i][1] for i in ids]))
    return found


def difference_interval(name: str, first: dict[str, dict[str, tuple[str, str]]],
                        second: dict[str, dict[str, tuple[str, str]]], *, resamples: int = RESAMPLES,
                        seed: int = SEED) -> dict:
    """The paired interval of (second's mean over languages) - (first's), from their outputs
    ({language: {sentence id: (output, reference)}}): `paired_difference` of their statistics."""
    return paired_difference(name, system_statistics(name, first), system_statistics(name, second),
                             resamples=resamples, seed=seed)


def paired_difference(name: str, first: dict[str, tuple[list[str], np.ndarray]],
                      second: dict[str, tuple[list[str], np.ndarray]], *, resamples: int = RESAMPLES,
                      seed: int = SEED) -> dict:
    """The 95% interval of (second's mean over languages) - (first's), paired: every round draws one
    multiset of sentence ids and applies it to both systems and every language, so what the two share
    (a sentence hard for both) cancels. Both must hold the same ids in every language (a parallel test
    set evaluated the same way); the inputs are `system_statistics`. {"difference", "ci95", "languages",
    "sentences", **settings}."""
    if list(first) != list(second) or not first:
        raise ValueError(f"the two evaluations cover other languages: {list(first)} vs {list(second)}")
    ids = next(iter(first.values()))[0]
    if any(list(found) != list(ids) for found, _ in [*first.values(), *second.values()]):
        raise ValueError("the two evaluations do not hold the same sentence ids in every language")
    # one draw per round, first row the whole corpus once (the point estimate)
    counts = np.vstack([np.ones((1, len(ids))), resample_counts(len(ids), resamples=resamples, seed=seed)])

    def means(system: dict) -> np.ndarray:
        return np.mean([resampled_scores(name, statistics, counts) for _, statistics in system.values()], axis=0)

    difference = means(second) - means(first)
    return {"difference": round(float(difference[0]), 4),
            "ci95": percentile_interval(difference[1:]), "languages": list(first),
            "sentences": len(ids), "resampling": "paired: the same resampled sentence ids for both and in every language",
            **settings(resamples, seed)}


def by_sentence(rows: list[dict]) -> dict[str, tuple[str, str]]:
    """{sentence id: (output, reference)} of one language's predictions, by the row id a parallel test
    set shares across languages (tasks.base.row_id_of)."""
    from layerbridge.tasks.base import row_id_of

    return {row_id_of(r["id"]): (r["output"], r["reference"]) for r in rows}


def average_intervals(name: str, rows: dict[str, list[dict]], low_resource) -> dict:
    """The record of the averages' intervals of one evaluation: `average_<name>_ci95` over every
    language, `low_resource_<name>_ci95` over those in `low_resource`, and how each was drawn in
    `average_intervals`. `rows`: language -> its predictions ({id, output, reference}); a parallel test
    set's row ids (tasks.base.row_id_of) pair the sentences across languages. {} without rows."""
    by_id = {lang: by_sentence(found) for lang, found in rows.items()}
    low = [lang for lang in rows if lang in set(low_resource)]
    record, drawn = {}, {}
    for label, langs in (("average", list(rows)), ("low_resource", low)):
        found = mean_interval(name, {lang: by_id[lang] for lang in langs})
        if found is not None:
            record[f"{label}_{name}_ci95"] = found.pop("ci95")
            drawn[label] = found
    return {**record, "average_intervals": drawn} if record else {}
