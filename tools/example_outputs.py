"""Outputs of a run for a few flores_en test sentences, kept in git as the run folder's examples.json (ids
and outputs only: inputs and references are third-party data and stay out of the repository), (re)written
from the run's predictions/ when they are present, so that a fresh clone renders the same examples.
"""

from __future__ import annotations

import json
from pathlib import Path

from layerbridge.io import atomic_write_text, slug

EVALUATION = "eval-generation"  # the evaluation `layerbridge compare` writes into each run
EXAMPLE_IDS = 3
# What each example sentence says, in our own words (the sentences themselves are third-party data).
GISTS = {"584": "people have made and used magnifying lenses for thousands of years",
         "1981": "most modern research telescopes are huge installations in remote places with good air",
         "1429": "the 35 mm film format's real width and height in millimetres"}


def sentence_id(row: dict) -> str:
    """A prediction's test id without its language ('sin_Sinh/584' -> '584')."""
    return row["id"].rsplit("/", 1)[1]


def stored_examples(folder: Path, run: str, languages: list[str], ids: list[str] | None = None) -> dict | None:
    """folder/examples.json ({"run", "ids", "outputs": {language: {id: output}}}), first (re)written from the
    predictions of the run's compare evaluation (EVALUATION: greedy, as the tables score it; not another
    decoding evaluated beside it) where they are present: the sentences `ids`, or the first EXAMPLE_IDS of the
    first language. None where neither exists."""
    store = folder / "examples.json"
    predictions = folder / slug(run) / EVALUATION / "predictions"  # compare's run folder
    if predictions.is_dir():
        rows = {lang: [json.loads(line) for line in (predictions / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()]
                for lang in languages if (predictions / f"{lang}.jsonl").is_file()}
        if rows:
            ids = ids or [sentence_id(r) for r in next(iter(rows.values()))[:EXAMPLE_IDS]]
            chosen = {lang: {sentence_id(r): r["output"] for r in got if sentence_id(r) in ids} for lang, got in rows.items()}
            atomic_write_text(store, json.dumps({"run": run, "ids": ids, "outputs": chosen}, indent=2,
                                                ensure_ascii=False) + "\n")
    if not store.is_file():
        return None
    return json.loads(store.read_text(encoding="utf-8"))


def one_line(text: str) -> str:
    """An output on one markdown line."""
    return " ".join(text.split()) or "*(empty)*"
