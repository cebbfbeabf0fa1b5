"""Tables from `layerbridge compare` outputs (compare.json), averaged over seeds.

    python experiments/summarize.py results/fusion-study/sib200-seed0 results/fusion-study/sib200-seed1

Prints Markdown: the headline (average and low-resource average per run, mean ± spread over seeds,
with the English dev accuracy used for selection) and the per-language table.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def load(folders: list[str]) -> list[dict]:
    return [json.loads((Path(f) / "compare.json").read_text()) for f in folders]


BEST_MIX = "probe: best mix (dev-selected)"


def references(doc: dict) -> dict[str, dict]:
    """Reference rows; the probe's best mix is chosen per seed, so its row gets one name."""
    return {BEST_MIX if name.startswith("probe: best mix") else name: ref
            for name, ref in doc.get("references", {}).items()}


def columns(doc: dict) -> dict[str, dict[str, float]]:
    table = {name: {l: r["accuracy"] for l, r in run["results"].items()} for name, run in doc["runs"].items()}
    table.update({name: ref["accuracy"] for name, ref in references(doc).items()})
    return table


def dev(doc: dict, name: str) -> float | None:
    if name in doc["runs"]:
        return doc["runs"][name]["train"]["dev_accuracy"]
    ref = references(doc).get(name, {})
    return ref.get("dev_accuracy", ref.get("train", {}).get("dev_accuracy"))


def fmt(values: list[float]) -> str:
    values = [100 * v for v in values if v is not None]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {(max(values) - min(values)) / 2:.1f}"


def main(folders: list[str]) -> None:
    docs = load(folders)
    first = docs[0]
    names = list(columns(first))
    langs, low = first["languages"], first["low_resource"]
    seeds = [d["train_config"]["seed"] for d in docs]
    print(f"Task `{first['task']}`, seeds {seeds}, {first['eval_limit'] or 'all'} test examples per language, "
          f"{first['train_examples']} English training examples ({first['dev_examples']} dev), mode {first['mode']}. "
          "Values: mean ± half-range over seeds (accuracy, %).\n")
    print("| run | English dev (selection) | average, all languages | low-resource average |")
    print("|---|---:|---:|---:|")
    for name in names:
        avg = [statistics.mean(columns(d)[name].values()) for d in docs]
        lowavg = [statistics.mean(columns(d)[name][l] for l in low) for d in docs] if low else []
        print(f"| {name} | {fmt([dev(d, name) for d in docs])} | {fmt(avg)} | {fmt(lowavg)} |")
    mixes = [references(d).get(BEST_MIX, {}).get("fused_layers") for d in docs]
    if any(mixes):
        print(f"\nProbe best mix per seed (encoder hidden-state indices): {mixes}")
    print(f"\nLow-resource languages ({len(low)}): {', '.join(low)}\n")
    print("| language | " + " | ".join(names) + " |")
    print("|---" + "|---:" * len(names) + "|")
    for lang in langs:
        cells = [fmt([columns(d)[name][lang] for d in docs]) for name in names]
        print(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
