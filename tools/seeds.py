"""Tables and plots over several `compare` outputs of one task (one folder per seed).

A single seed of a small-data run can move a low-resource average by several points, so results
are reported as the seeds' mean with their half-range (max - min) / 2, never as one lucky run.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from layerbridge.errors import DataError
from layerbridge.io import slug
from layerbridge.reporting import plots

BEST_MIX = "probe: best mix (dev-selected)"


def load(folders: list[str | Path], same_runs: bool = True) -> list[dict]:
    """The compare.json of each folder; all must be the same task, languages and (unless `same_runs` is
    False: a study whose report reads every run per seed, as tools/probe_gap_report.py does) bridges (a
    reference row may be missing from some seeds: it is reported over the seeds that have it, and says so)."""
    docs = []
    for folder in folders:
        path = Path(folder) / "compare.json"
        if not path.is_file():
            raise DataError(f"{path} is missing: is {folder} the output folder of a finished `layerbridge compare`?")
        docs.append(json.loads(path.read_text()))
    if not docs:
        raise DataError("no compare folders given")
    first = docs[0]
    for folder, doc in zip(folders, docs):
        for key in ("task", "languages"):
            if doc[key] != first[key]:
                raise DataError(f"{folder}: {key} {doc[key]!r} differs from {folders[0]}'s {first[key]!r}")
        if same_runs and list(doc["runs"]) != list(first["runs"]):
            raise DataError(f"{folder}: runs {list(doc['runs'])} differ from {folders[0]}'s {list(first['runs'])}")
    return docs


def names(docs: list[dict]) -> list[str]:
    """Every run and reference row of any seed, bridges first, in order of appearance."""
    return list(dict.fromkeys(name for d in docs for name in columns(d)))


def having(docs: list[dict], name: str) -> list[dict]:
    """The seeds that have this row (every seed for a bridge)."""
    return [d for d in docs if name in columns(d)]


def label(docs: list[dict], name: str) -> str:
    """The row's name, with the seeds it was run on when that is not all of them."""
    return with_seeds(name, [d["train_config"]["seed"] for d in having(docs, name)],
                      [d["train_config"]["seed"] for d in docs])


def with_seeds(name: str, found: list[int], every: list[int]) -> str:
    """A row or column name, with the seeds it was run on (`found`) when that is not all of a table's."""
    if sorted(set(found)) == sorted(set(every)):
        return name
    return f"{name} (seed{'s' if len(found) > 1 else ''} {', '.join(map(str, sorted(found)))} only)"


def references(doc: dict) -> dict[str, dict]:
    """Reference rows; the probe's best mix is chosen per seed, so its row gets one name."""
    return {BEST_MIX if name.startswith("probe: best mix") else name: ref
            for name, ref in doc.get("references", {}).items()}


def columns(doc: dict) -> dict[str, dict[str, float]]:
    """score[run or reference][language] of the document's headline metric (accuracy, or chrF++ for a
    generation task), bridges first."""
    metric = doc.get("metric", "accuracy")
    table = {name: {lang: r[metric] for lang, r in run["results"].items()} for name, run in doc["runs"].items()}
    table.update({name: ref[metric] for name, ref in references(doc).items()})
    return table


def dev_accuracy(doc: dict, name: str) -> float | None:
    if name in doc["runs"]:
        return doc["runs"][name]["train"]["dev_accuracy"]
    ref = references(doc).get(name, {})
    return ref.get("dev_accuracy", ref.get("train", {}).get("dev_accuracy"))


def spread(values: list[float | None], scale: float = 100) -> str:
    """'mean ± half-range' over the seeds, in percent (scale 100; 1 for chrF++/BLEU, already 0..100);
    '—' when there is nothing."""
    values = [scale * v for v in values if v is not None]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {(max(values) - min(values)) / 2:.1f}"


def paired_cell(diffs: list[dict]) -> str:
    """'+d [+low, +high]': a paired difference with its 95% interval, each averaged over seeds
    (tools/paired_bootstrap.py's documents)."""
    return (f"{statistics.mean(d['difference'] for d in diffs):+.1f} "
            f"[{statistics.mean(d['ci95'][0] for d in diffs):+.1f}, {statistics.mean(d['ci95'][1] for d in diffs):+.1f}]")


def mean_bounds(found: list[list[float] | None]) -> str:
    """' [low, high]': intervals' bounds averaged over seeds; '' unless every seed has one."""
    if not found or not all(found):
        return ""
    return f" [{statistics.mean(f[0] for f in found):.1f}, {statistics.mean(f[1] for f in found):.1f}]"


def language_mean(doc: dict, name: str, languages: list[str] | None = None) -> float | None:
    """Row `name`'s mean score over `languages` (default: the document's low-resource ones) in one
    compare document; None where it has no such row or misses one of the languages."""
    languages = doc["low_resource"] if languages is None else languages
    column = columns(doc).get(name)
    if column is None or not languages or not all(lang in column for lang in languages):
        return None
    return statistics.mean(column[lang] for lang in languages)


def low_resource_mean(doc: dict, name: str) -> float:
    """language_mean over the low-resource languages, where the row must have them all."""
    value = language_mean(doc, name)
    if value is None:
        missing = [lang for lang in doc["low_resource"] if lang not in columns(doc).get(name, {})]
        raise DataError(f"row {name!r} of a compare document (seed {doc.get('train_config', {}).get('seed')}) "
                        f"has no score for the low-resource language(s) {', '.join(missing)}")
    return value


def averages(docs: list[dict], name: str) -> tuple[list[float], list[float]]:
    """Per seed that has the row: the average over all languages and over the low-resource ones ([] if none)."""
    low, docs = docs[0]["low_resource"], having(docs, name)
    avg = [statistics.mean(columns(d)[name].values()) for d in docs]
    low_avg = [low_resource_mean(d, name) for d in docs] if low else []
    return avg, low_avg


def setup_line(docs: list[dict]) -> str:
    first = docs[0]
    cfg = first["train_config"]
    # "no" is accelerate's name for plain fp32 (what --mixed-precision auto resolves to without native bf16)
    precision = sorted({d["runs"][next(iter(d["runs"]))]["train"].get("mixed_precision", "?") for d in docs})
    precision = ["fp32" if p == "no" else p for p in precision]
    return (f"Task `{first['task']}`, seeds {[d['train_config']['seed'] for d in docs]}, "
            f"{first['eval_limit'] or 'all'} test examples per language (stratified), "
            f"{first['train_examples']} English training examples ({first['dev_examples']} dev), "
            f"preset `{cfg['preset']}` (lr {cfg['learning_rate']:g}, {cfg['epochs']:g} epochs, batch {cfg['batch_size']}), "
            f"precision {'/'.join(precision)}, mode `{first['mode']}`. "
            "Values: accuracy %, mean ± half-range over seeds.")


def headline(docs: list[dict]) -> list[str]:
    """Markdown: per run, English dev (the selection criterion) and the two test averages."""
    lines = ["| run | English dev (selection) | average, all languages | low-resource average |",
             "|---|---:|---:|---:|"]
    for name in names(docs):
        avg, low_avg = averages(docs, name)
        dev = spread([dev_accuracy(d, name) for d in having(docs, name)])
        lines.append(f"| {label(docs, name)} | {dev} | {spread(avg)} | {spread(low_avg)} |")
    mixes = [references(d).get(BEST_MIX, {}).get("fused_layers") for d in docs]
    if any(mixes):
        lines += ["", f"Probe best mix per seed (encoder hidden-state indices): {mixes}"]
    return lines


def per_language(docs: list[dict]) -> list[str]:
    rows, low = names(docs), set(docs[0]["low_resource"])
    lines = ["| language | " + " | ".join(label(docs, n) for n in rows) + " |", "|---" + "|---:" * len(rows) + "|"]
    for lang in docs[0]["languages"]:
        cells = [spread([columns(d)[name][lang] for d in having(docs, name)]) for name in rows]
        lines.append(f"| {lang}{' (low)' if lang in low else ''} | " + " | ".join(cells) + " |")
    return lines


def layer_weight_lines(docs: list[dict]) -> list[str]:
    """Markdown: per fused run and seed, the layers that carry most weight (averaged over languages)."""
    lines = []
    for name, run in docs[0]["runs"].items():
        if run.get("fusion") not in ("global_softmax", "token_softmax"):
            continue
        per_seed = []
        for d in docs:
            r = d["runs"][name]
            weights = [statistics.mean(col) for col in zip(*r["layer_weights"].values())]
            top = sorted(zip(r["layers"], weights), key=lambda lw: -lw[1])[:3]
            per_seed.append(f"seed {d['train_config']['seed']}: " + ", ".join(f"layer {l} {w:.2f}" for l, w in top))
        lines.append(f"- `{name}`: " + "; ".join(per_seed))
    return lines


def write_plots(docs: list[dict], folder: Path) -> list[tuple[str, Path]]:
    """Accuracy per language (seed mean) and, per fused run and seed, its layer weights per language."""
    table = {label(docs, name): {lang: statistics.mean(columns(d)[name][lang] for d in having(docs, name))
                                 for lang in docs[0]["languages"]}
             for name in names(docs)}
    task = docs[0]["task"]
    images = [(f"{task}: accuracy per language (mean over seeds)", plots.accuracy_per_language(
        table, docs[0]["languages"], folder / "accuracy.png", set(docs[0]["low_resource"]), title=task))]
    for name, run in docs[0]["runs"].items():
        if run.get("fusion") not in ("global_softmax", "token_softmax"):
            continue
        for d in docs:
            seed = d["train_config"]["seed"]
            path = folder / f"{slug(name)}_layer_weights_seed{seed}.png"
            images.append((f"{task}: {name} layer weights per language, seed {seed}", plots.layer_weight_heatmap(
                d["runs"][name]["layer_weights"], d["runs"][name]["layers"], path,
                title=f"{name}, seed {seed}: mean layer weight over real tokens")))
    return images
