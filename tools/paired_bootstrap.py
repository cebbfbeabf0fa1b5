"""The paired 95% bootstrap interval of the difference between two evaluations of the same parallel
test sentences (`layerbridge evaluate` folders: results.json and predictions/): the second's average
chrF++ minus the first's, over every language and over the low-resource ones. The separate intervals
of two averages overlap more than their difference varies; resampling the same sentence ids for both
(evaluation.bootstrap.difference_interval) tells whether a gap of a point or two is real.

    python -m tools.paired_bootstrap FIRST_EVAL SECOND_EVAL -o OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layerbridge.compare.intervals import predictions
from layerbridge.errors import DataError
from layerbridge.evaluation.bootstrap import by_sentence, difference_interval
from layerbridge.io import atomic_write_text


def sentences(eval_dir: Path) -> tuple[dict, dict[str, dict[str, tuple[str, str]]]]:
    """(results.json, {language: {sentence id: (output, reference)}}) of one evaluation folder."""
    results = json.loads((eval_dir / "results.json").read_text(encoding="utf-8"))
    rows = {}
    for lang in results["languages"]:
        found = predictions(eval_dir, {}, lang)
        if found is None:
            raise DataError(f"{eval_dir / 'predictions' / f'{lang}.jsonl'}: missing; the paired interval needs every "
                            "language's predictions")
        rows[lang] = by_sentence(found)
    return results, rows


def paired(first: Path, second: Path) -> dict:
    """The document: both folders, the metric, and the difference with its interval per average."""
    (a, rows_a), (b, rows_b) = sentences(first), sentences(second)
    metric = a["summary"].get("metric", "chrf")
    if metric != b["summary"].get("metric", "chrf") or list(rows_a) != list(rows_b):
        raise DataError(f"{first} and {second} are not evaluations of the same languages and metric")
    low = a["summary"]["low_resource_languages"]
    document = {"first": str(first), "second": str(second), "metric": metric}
    for label, langs in (("average", list(rows_a)), ("low_resource", low)):
        try:
            document[label] = difference_interval(metric, {l: rows_a[l] for l in langs}, {l: rows_b[l] for l in langs})
        except ValueError as error:
            raise DataError(f"{first} vs {second}: {error}") from None
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    document = paired(args.first, args.second)
    atomic_write_text(args.output, json.dumps(document, indent=1) + "\n")
    low = document["low_resource"]
    print(f"low-resource {document['metric']}: {low['difference']:+.2f} "
          f"(95% interval {low['ci95'][0]:+.2f} to {low['ci95'][1]:+.2f}, paired over {low['sentences']} sentences); "
          f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
