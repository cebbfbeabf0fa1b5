"""Per-sentence metric statistics of an evaluation, kept in git so that a later session can pair a new
run with it. A paired interval (tools/paired_bootstrap.py) needs each sentence's sufficient statistics
(sacrebleu's n-gram match counts behind corpus chrF++), not its text; predictions stay out of the
repository (they restate third-party sentences), so without these a run could only be paired with runs
of the same machine and session. The file holds counts and sentence ids, no text.

    python -m tools.sentence_statistics EVAL_DIR -o RUN/sentence-statistics/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from layerbridge.compare.intervals import predictions
from layerbridge.errors import DataError
from layerbridge.evaluation.bootstrap import by_sentence, system_statistics
from layerbridge.io import atomic_write_text

KIND = "sentence-statistics"  # the document's "kind"


def evaluation_sentences(eval_dir: Path) -> tuple[dict, dict[str, dict[str, tuple[str, str]]]]:
    """(results.json, {language: {sentence id: (output, reference)}}) of one evaluation folder."""
    results = json.loads((eval_dir / "results.json").read_text(encoding="utf-8"))
    rows = {}
    for lang in results["languages"]:
        found = predictions(eval_dir, {}, lang)
        if found is None:
            raise DataError(f"{eval_dir / 'predictions' / f'{lang}.jsonl'}: missing; a paired interval needs every "
                            "language's predictions")
        rows[lang] = by_sentence(found)
    return results, rows


def from_evaluation(eval_dir: Path) -> dict:
    """The document of one evaluation folder: its metric, low-resource languages and, per language, the
    sentence ids with one row of statistics each."""
    results, rows = evaluation_sentences(eval_dir)
    metric = results["summary"].get("metric", "chrf")
    return {"kind": KIND, "evaluation": str(eval_dir), "metric": metric,
            "low_resource_languages": results["summary"]["low_resource_languages"],
            "languages": {lang: {"ids": ids, "statistics": statistics.astype(int).tolist()}
                          for lang, (ids, statistics) in system_statistics(metric, rows).items()}}


def load(path: Path) -> tuple[dict, dict[str, tuple[list[str], np.ndarray]]]:
    """(the document without its statistics, {language: (ids, statistics)}) of an evaluation folder, or of
    a statistics file this module wrote."""
    if path.is_dir():
        document = from_evaluation(path)
    else:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: not an evaluation folder or a readable statistics file ({error})") from None
        if document.get("kind") != KIND:
            raise DataError(f"{path}: not a sentence-statistics file (written by python -m tools.sentence_statistics)")
    languages = document.pop("languages")
    return document, {lang: (found["ids"], np.asarray(found["statistics"], dtype=np.float64))
                      for lang, found in languages.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evaluation", type=Path, help="a `layerbridge evaluate` folder (results.json, predictions/)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    document = from_evaluation(args.evaluation)
    atomic_write_text(args.output, json.dumps(document, separators=(",", ":")) + "\n")  # counts: compact
    print(f"wrote {args.output}: {len(document['languages'])} languages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
