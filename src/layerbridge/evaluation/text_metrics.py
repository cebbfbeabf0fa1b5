"""Metrics of generated text against references: chrF++ and BLEU from `sacrebleu` (corpus-level, its
default tokenisation), exact match after whitespace normalisation, and the numeric answer of a
math-style target (the last number in the text, or the number after GSM8K's "####")."""

from __future__ import annotations

import re
from fractions import Fraction

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def chrf(hypotheses: list[str], references: list[str]) -> float:
    """Corpus chrF++ (character n-grams up to 6 plus word n-grams up to 2), 0..100."""
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=2).corpus_score(hypotheses, [references]).score


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU with sacrebleu's defaults (13a tokenisation), 0..100."""
    from sacrebleu.metrics import BLEU

    return BLEU().corpus_score(hypotheses, [references]).score


def normalise(text: str) -> str:
    return " ".join(text.split())


def exact_match(hypotheses: list[str], references: list[str]) -> float:
    """Share of outputs equal to their reference after whitespace normalisation (case kept), 0..1."""
    return sum(normalise(h) == normalise(r) for h, r in zip(hypotheses, references)) / len(references)


def numeric_answer(text: str) -> Fraction | None:
    """The answer number of a text: after the last '####' if there is one, else the last number."""
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    found = NUMBER.findall(text)
    if not found:
        return None
    try:
        return Fraction(found[-1].replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def numeric_match(hypotheses: list[str], references: list[str]) -> float:
    """Share of outputs whose numeric answer equals the reference's (a reference without one never matches)."""
    hits = 0
    for h, r in zip(hypotheses, references):
        gold = numeric_answer(r)
        hits += gold is not None and numeric_answer(h) == gold
    return hits / len(references)


def score_all(metrics: tuple[str, ...], hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """The named metrics; chrF and BLEU on 0..100, exact and numeric match on 0..1."""
    functions = {"chrf": chrf, "bleu": bleu, "exact_match": exact_match, "numeric_match": numeric_match}
    return {name: functions[name](hypotheses, references) for name in metrics}
