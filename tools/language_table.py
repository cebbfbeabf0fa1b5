"""A chrF++-per-language table over the seeds of one set of `compare` documents, with each cell's 95%
bootstrap interval and the LLM-alone reference rows where the documents have them, and its bar plot:
the flores_en table of docs/generation.md and the real budget's per-language table share it.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from layerbridge.reporting import plots
from tools import seeds


def interval_of(doc: dict, name: str, key: str) -> list[float] | None:
    """A row's 95% bootstrap interval in one seed's compare.json: `key` a language, or "average" /
    "low_resource" for its averages; None where the document has none (runs written before them)."""
    metric = doc.get("metric", "chrf")
    row = doc["runs"].get(name) or seeds.references(doc).get(name) or {}
    if key in ("average", "low_resource"):
        return row.get(f"{key}_{metric}_ci95")
    if name in doc["runs"]:
        return row["results"].get(key, {}).get(f"{metric}_ci95")
    return row.get(f"{metric}_ci95", {}).get(key)


def bounds(docs: list[dict], name: str, key: str) -> str:
    """' [low, high]': the 95% bootstrap bounds, averaged over the seeds when there are several; '' unless
    every seed that has the row has them (the committed runs before intervals render as they did)."""
    return seeds.mean_bounds([interval_of(d, name, key) for d in seeds.having(docs, name)])


def interval_note(docs: list[dict]) -> str:
    """The caption's sentence on the intervals ('' when no row has one): how they were drawn."""
    drawn = [record for d in docs for row in [*d["runs"].values(), *seeds.references(d).values()]
             for record in row.get("average_intervals", {}).values()]
    if not drawn:
        return ""
    joint = all(record["joint"] for record in drawn)
    return (f" In brackets: the 95% bootstrap interval over the test sentences ({drawn[0]['resamples']} resamples, "
            "percentiles; the averages' " + ("resample the same sentence ids in every language" if joint else
                                             "resample each language on its own where their ids differ")
            + ")" + (", its bounds averaged over the seeds." if len(docs) > 1 else "."))


def language_table(docs: list[dict], plot: Path, doc_dir: Path, title: str) -> list[str]:
    """chrF++ per language, mean ± half-range over seeds, with the 95% bootstrap interval where the runs
    have one; reference rows from the seeds that have them; the bars drawn to `plot`."""
    names = seeds.names(docs)
    low = set(docs[0]["low_resource"])
    spread = lambda vs: seeds.spread(vs, scale=1)  # noqa: E731
    cell = lambda name, lang: (spread([seeds.columns(d)[name][lang] for d in seeds.having(docs, name)])  # noqa: E731
                               + bounds(docs, name, lang))
    lines = [f"Seeds {[d['train_config']['seed'] for d in docs]}, {docs[0]['eval_limit'] or 'all'} test sentences per "
             "language (the same ids in every language), chrF++ (mean ± half-range over seeds)." + interval_note(docs),
             "", "| language | " + " | ".join(seeds.label(docs, n) for n in names) + " |", "|---" + "|---:" * len(names) + "|"]
    for lang in docs[0]["languages"]:
        lines.append(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cell(n, lang) for n in names) + " |")
    for label, key, langs in (("average", "average", docs[0]["languages"]),
                              ("low-resource average", "low_resource", sorted(low))):
        values = [spread([statistics.mean(seeds.columns(d)[n][l] for l in langs) for d in seeds.having(docs, n)])
                  + bounds(docs, n, key) for n in names]
        lines.append(f"| **{label}** | " + " | ".join(f"**{v}**" for v in values) + " |")
    table = {n: {l: statistics.mean(seeds.columns(d)[n][l] for d in seeds.having(docs, n))
                 for l in docs[0]["languages"]} for n in names}
    path = plots.accuracy_per_language(table, docs[0]["languages"], plot, low, title=title, metric="chrF++", scale=1)
    lines += ["", f"![chrF++ per language]({os.path.relpath(path, doc_dir.parent)})"]
    return lines
