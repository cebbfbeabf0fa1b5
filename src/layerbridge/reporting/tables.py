"""Per-language result tables, written as JSON + CSV + Markdown (atomically)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from layerbridge.evaluation.bootstrap import BOOTSTRAPPED, average_intervals
from layerbridge.io import atomic_write_text


def mean(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else float("nan")


def pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:.1f}"


PERCENT_SCALE = {"chrf", "bleu"}  # sacrebleu scores, already 0..100; every other metric is a share 0..1
METRIC_NAMES = {"accuracy": "accuracy (%)", "macro_f1": "macro-F1 (%)", "chrf": "chrF++", "bleu": "BLEU",
                "exact_match": "exact match (%)", "numeric_match": "numeric answer match (%)"}


def show(value: float | None, metric: str = "accuracy") -> str:
    """A metric value as printed in tables: 0..100 with one decimal."""
    if metric in PERCENT_SCALE:
        return "—" if value is None or math.isnan(value) else f"{value:.1f}"
    return pct(value)


def write_predictions(folder: Path, results: dict[str, dict]) -> None:
    for lang, r in results.items():
        atomic_write_text(folder / "predictions" / f"{lang}.jsonl",
                          "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in r["predictions"]))


def write_evaluation(folder: Path, results: dict[str, dict], *, task, meta: dict) -> dict:
    """results.json (+ predictions per language), results.csv, results.md. Returns the summary."""
    if task.is_generation:
        return write_generation_evaluation(folder, results, task=task, meta=meta)
    folder.mkdir(parents=True, exist_ok=True)
    low = [lang for lang in results if lang in set(task.low_resource)]
    summary = {
        "average_accuracy": mean(r["accuracy"] for r in results.values()),
        "average_macro_f1": mean(r["macro_f1"] for r in results.values()),
        "low_resource_languages": low,
        "low_resource_accuracy": mean(results[lang]["accuracy"] for lang in low) if low else None,
    }
    per_lang = {lang: {k: v for k, v in r.items() if k != "predictions"} for lang, r in results.items()}
    document = {**meta, "task": task.name, "label_words": task.label_words, "languages": per_lang, "summary": summary}
    atomic_write_text(folder / "results.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    write_predictions(folder, results)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["language", "low_resource", "n", "accuracy", "macro_f1", "invalid"])
    for lang, r in results.items():
        writer.writerow([lang, lang in low, r["n"], f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}", r["invalid"]])
    atomic_write_text(folder / "results.csv", buffer.getvalue())

    lines = [f"# {task.name}: {meta.get('bridge', '')} ({meta.get('mode', '')})", "",
             "| language | n | accuracy | macro-F1 | invalid |", "|---|---:|---:|---:|---:|"]
    for lang, r in results.items():
        mark = " (low-resource)" if lang in low else ""
        lines.append(f"| {lang}{mark} | {r['n']} | {pct(r['accuracy'])} | {pct(r['macro_f1'])} | {r['invalid']} |")
    lines.append(f"| **average** | | **{pct(summary['average_accuracy'])}** | **{pct(summary['average_macro_f1'])}** | |")
    if low:
        lines.append(f"| **low-resource average** | | **{pct(summary['low_resource_accuracy'])}** | | |")
    lines += ["", "Confusion matrices (rows: gold; columns: predicted, last = invalid):", ""]
    for lang, r in results.items():
        lines.append(f"<details><summary>{lang}</summary>\n")
        lines.append("| gold \\ pred | " + " | ".join(task.label_words) + " | invalid |")
        lines.append("|---" * (len(task.label_words) + 2) + "|")
        for word, row in zip(task.label_words, r["confusion"]):
            lines.append(f"| {word} | " + " | ".join(str(x) for x in row) + " |")
        lines.append("\n</details>\n")
    atomic_write_text(folder / "results.md", "\n".join(lines) + "\n")
    return summary


def write_generation_evaluation(folder: Path, results: dict[str, dict], *, task, meta: dict,
                                examples_per_language: int = 2) -> dict:
    """The same files for a generation task: every metric per language, averages, example outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = list(task.metrics)
    low = [lang for lang in results if lang in set(task.low_resource)]
    summary = {"metric": metrics[0], "low_resource_languages": low}
    for m in metrics:
        summary[f"average_{m}"] = mean(r[m] for r in results.values())
        summary[f"low_resource_{m}"] = mean(results[lang][m] for lang in low) if low else None
    if metrics[0] in BOOTSTRAPPED:  # the averages' 95% intervals, resampled jointly on a parallel test set
        summary.update(average_intervals(metrics[0], {lang: r["predictions"] for lang, r in results.items()},
                                         task.low_resource))
    per_lang = {lang: {k: v for k, v in r.items() if k != "predictions"} for lang, r in results.items()}
    document = {**meta, "task": task.name, "kind": "generation", "metrics": metrics, "languages": per_lang,
                "summary": summary}
    atomic_write_text(folder / "results.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    write_predictions(folder, results)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["language", "low_resource", "n", *metrics, "empty_outputs"])
    for lang, r in results.items():
        writer.writerow([lang, lang in low, r["n"], *[f"{r[m]:.4f}" for m in metrics], r["empty_outputs"]])
    atomic_write_text(folder / "results.csv", buffer.getvalue())

    heads = [METRIC_NAMES[m] for m in metrics]
    lines = [f"# {task.name}: {meta.get('bridge', '')} (generation)", "",
             "| language | n | " + " | ".join(heads) + " | empty outputs |", "|---|---:" + "|---:" * len(metrics) + "|---:|"]
    for lang, r in results.items():
        mark = " (low-resource)" if lang in low else ""
        lines.append(f"| {lang}{mark} | {r['n']} | " + " | ".join(show(r[m], m) for m in metrics) + f" | {r['empty_outputs']} |")
    lines.append("| **average** | | " + " | ".join(f"**{show(summary[f'average_{m}'], m)}**" for m in metrics) + " | |")
    if low:
        lines.append("| **low-resource average** | | "
                     + " | ".join(f"**{show(summary[f'low_resource_{m}'], m)}**" for m in metrics) + " | |")
    lines += ["", "Example outputs with their inputs and references: examples.md; every output: predictions/."]
    atomic_write_text(folder / "results.md", "\n".join(lines) + "\n")
    examples = [f"# {task.name}: example outputs ({examples_per_language} per language)", ""]
    for lang, r in results.items():
        for p in r["predictions"][:examples_per_language]:
            examples.append(f"- **{lang}** `{p['id']}`<br>input: {_cell(p['input'])}<br>output: {_cell(p['output'])}<br>"
                            f"reference: {_cell(p['reference'])}")
    atomic_write_text(folder / "examples.md", "\n".join(examples) + "\n")
    return summary


def _cell(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.replace("|", "\\|") or "*(empty)*"


def dev_read_in(document: dict) -> str:
    """', read in swh_Latn, hin_Deva' for a dev set read in other languages (--dev-languages), else ''."""
    languages = document.get("train_config", {}).get("dev_languages")
    return f", read in {', '.join(languages)}" if languages else ""
