"""The paired 95% bootstrap interval of the difference between two evaluations of the same parallel
test sentences (`layerbridge evaluate` folders: results.json and predictions/, or their committed
sentence statistics: tools/sentence_statistics.py): the second's average chrF++ minus the first's, over
every language and over the low-resource ones. The separate intervals of two averages overlap more than
their difference varies; resampling the same sentence ids for both (evaluation.bootstrap.paired_difference)
tells whether a gap of a point or two is real.

    python -m tools.paired_bootstrap FIRST SECOND -o OUT.json   # each an evaluation folder or statistics file
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from layerbridge.errors import DataError
from layerbridge.evaluation.bootstrap import paired_difference, score_from_totals
from layerbridge.io import atomic_write_text
from tools.sentence_statistics import load


def paired(first: Path, second: Path) -> dict:
    """The document: both inputs, the metric, and the difference with its interval per average. Each input
    is an evaluation folder or its sentence statistics (tools/sentence_statistics.py)."""
    (a, stats_a), (b, stats_b) = load(first), load(second)
    metric = a["metric"]
    if metric != b["metric"] or list(stats_a) != list(stats_b):
        raise DataError(f"{first} and {second} are not evaluations of the same languages and metric")
    low = a["low_resource_languages"]
    document = {"first": str(first), "second": str(second), "metric": metric,
                "scores": {"first": corpus_scores(metric, stats_a), "second": corpus_scores(metric, stats_b)}}
    for label, langs in (("average", list(stats_a)), ("low_resource", low)):
        try:
            document[label] = paired_difference(metric, {l: stats_a[l] for l in langs}, {l: stats_b[l] for l in langs})
        except ValueError as error:
            raise DataError(f"{first} vs {second}: {error}") from None
    return document


def corpus_scores(metric: str, statistics: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, float]:
    """Each language's corpus score (what its evaluation reported), from its sentences' summed statistics."""
    return {lang: round(score_from_totals(metric, rows.sum(axis=0)), 4) for lang, (_, rows) in statistics.items()}


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
