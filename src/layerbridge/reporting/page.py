"""The comparison report: one Markdown page and the same as HTML, with PNG plots beside them."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import markdown

from layerbridge.io import atomic_write_text, slug
from layerbridge.reporting import plots
from layerbridge.reporting.tables import METRIC_NAMES, dev_read_in, mean, pct, show


def comparison_rows(document: dict) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Columns (fusions, then reference rows) and score[column][lang] of the document's headline metric
    (accuracy for classification, chrF++ for generation)."""
    metric = document.get("metric", "accuracy")
    table = {c: {lang: r[metric] for lang, r in run["results"].items()} for c, run in document["runs"].items()}
    table.update({name: ref[metric] for name, ref in document.get("references", {}).items()})
    return list(table), table


def markdown_table(document: dict) -> list[str]:
    metric = document.get("metric", "accuracy")
    fmt = lambda v: show(v, metric)  # noqa: E731
    columns, table = comparison_rows(document)
    fusions = len(document["runs"])
    low = set(document["low_resource"])
    header = [c if i < fusions else f"*{c}*" for i, c in enumerate(columns)]
    lines = ["| language | " + " | ".join(header) + " |", "|---" + "|---:" * len(columns) + "|"]

    def row(label: str, values: list[float]) -> str:
        finite = [v for v in values[:fusions] if not math.isnan(v)]
        best = max(finite) if finite else None  # best among the bridges; references are not ranked
        cells = [f"**{fmt(v)}**" if i < fusions and best is not None and abs(v - best) < 1e-12 else fmt(v)
                 for i, v in enumerate(values)]
        return f"| {label} | " + " | ".join(cells) + " |"

    for lang in document["languages"]:
        lines.append(row(f"{lang}{' (low)' if lang in low else ''}", [table[c].get(lang, float("nan")) for c in columns]))
    lines.append(row("*average*", [mean(table[c].values()) for c in columns]))
    if low:
        lines.append(row("*low-resource average*", [mean(table[c][lang] for lang in low) for c in columns]))
    return lines


def write_report(out: Path, document: dict, *, title: str) -> Path:
    plot_dir = out / "plots"
    columns, table = comparison_rows(document)
    low = set(document["low_resource"])
    metric = document.get("metric", "accuracy")
    name = METRIC_NAMES.get(metric, metric)
    images = report_plots(document, table, plot_dir, low, metric, name)

    md = [f"# {title}", "",
          f"Task `{document['task']}`, evaluation mode `{document['mode']}`, "
          f"{document['eval_limit'] or 'all'} examples per language; trained on {document['train_examples']} "
          f"English examples ({document['dev_examples']} held out as dev{dev_read_in(document)}), same seed, data and "
          "budget for every fusion.",
          "", f"## {name} per language (best bridge per row in bold; reference rows in italics)", ""]
    md += markdown_table(document)
    md += generation_notes(document, table)
    refs = document.get("references", {})
    probes = {name: r for name, r in refs.items() if "fused_layers" in r}
    if "LLM alone" in refs:
        t = refs["LLM alone"]["train"]
        md += ["", f"*LLM alone*: the same LLM reads the raw text through its own tokenizer and embeddings, with a "
               f"trained soft prompt and a linear adapter ({t['trainable_parameters']:,} trainable parameters), "
               "trained on the same English examples with the same budget."]
    if probes:
        md += ["", "*probe* rows (no LLM): logistic regression on mean-pooled frozen-encoder states, trained "
               "on the same English examples; the mix is chosen on the English dev set: "
               + "; ".join(f"{name}: layers {r['fused_layers']}, dev {pct(r['dev_accuracy'])}" for name, r in probes.items())]
        md += [line for name, r in probes.items() if r.get("note")  # a subsampled probe says so
               for line in ("", f"*{name}*: {r['note']}.")]
    if "LLM alone, zero-shot" in refs:
        md += ["", f"*LLM alone, zero-shot*: the LLM reads the raw text after the instruction "
               f"{refs['LLM alone, zero-shot']['instruction']!r}, nothing trained."]
    md += training_runs(document)
    md += ["", "## Plots", ""]
    md += [f"### {caption}\n\n![{caption}]({path.relative_to(out)})\n" for caption, path in images]
    md += ["## Settings", "", "```json", _settings(document), "```", ""]
    atomic_write_text(out / "report.md", "\n".join(md))
    atomic_write_text(out / "report.html", _html(title, md))
    return out / "report.html"


def report_plots(document: dict, table: dict, plot_dir: Path, low: set, metric: str, name: str) -> list[tuple]:
    """(caption, image path) of the report's plots: the metric per language, the token gate's mean
    layer weights, the global weights over training."""
    images = [(f"{name} per language", plots.accuracy_per_language(
        table, document["languages"], plot_dir / f"{metric}.png", low, title=document["task"], metric=name,
        scale=1 if metric in ("chrf", "bleu") else 100))]
    for name, run in document["runs"].items():
        stem = slug(name)
        if run.get("fusion", name) == "token_softmax":
            images.append((f"Average layer weight per language ({name})", plots.layer_weight_heatmap(
                run["layer_weights"], run["layers"], plot_dir / f"{stem}_layer_weights.png",
                title=f"{name}: mean layer weight over real tokens")))
        if run["global_history"]:
            images.append((f"Learned global weights ({name})", plots.global_weights(
                run["global_history"], run["layers"], plot_dir / f"{stem}_global_weights.png", title=name)))
    return images


def training_runs(document: dict) -> list[str]:
    """The report's table of training runs, and the learning rate each chose (`--lr-grid`)."""
    generation = document.get("kind") == "generation"
    dev_head, dev_key = ("dev chrF++", "dev_chrf") if generation else ("dev acc", "dev_accuracy")
    md = ["", "## Training runs", "", f"| fusion | trainable params | steps | seconds | train ex/s | final loss | {dev_head} |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    for fusion, run in document["runs"].items():
        t = run["train"]
        dev = show(t.get(dev_key), "chrf") if generation else pct(t.get(dev_key))
        md.append(f"| {fusion} | {t['trainable_parameters']:,} | {steps_trained(t, document)} | {t['seconds']} | "
                  f"{t['examples_per_second']} | {t['final_loss']} | {dev} |")
    grids = {fusion: run for fusion, run in document["runs"].items() if run.get("lr_grid")}
    if grids:  # --lr-grid: every run trained at each learning rate, the best on English dev kept
        md += ["", f"Learning rate chosen per run on English {dev_head} (`--lr-grid`): " + "; ".join(
            f"{fusion}: {run['chosen_lr']:g} (" + ", ".join(f"{lr}: {show(v, 'chrf') if generation else pct(v)}"
                                                          for lr, v in run["lr_grid"].items()) + ")"
            for fusion, run in grids.items())]
    return md


def steps_trained(train: dict, document: dict) -> str:
    """Steps trained, and why a run trained fewer than --max-steps asked: stopped early, or --epochs
    reached first (a cap that is easy to miss: the small-data preset's 2 epochs of a small task)."""
    asked = document.get("train_config", {}).get("max_steps")
    if train.get("stopped_early"):
        return f"{train['steps']} (stopped early; best {train.get('best_step', '?')})"
    if asked and train["steps"] < asked:
        return f"{train['steps']} (of --max-steps {asked}: --epochs reached first)"
    return str(train["steps"])


def generation_notes(document: dict, table: dict[str, dict[str, float]]) -> list[str]:
    """For a task that writes the reference language (flores_en): the copy ceiling (the bridge reading
    the reference language itself) and what share of it, and of the LLM alone, the others reach."""
    ref_lang, low = document.get("reference_lang"), document["low_resource"]
    if document.get("kind") != "generation" or ref_lang not in document["languages"] or not low:
        return []
    metric = document["metric"]
    lines = ["", f"Copy ceiling: each bridge reading {ref_lang} itself (the row {ref_lang}). Low-resource average "
             f"as a share of it" + (" and against the LLM alone:" if "LLM alone" in table else ":"), ""]
    for name, run in document["runs"].items():
        low_avg, copy = mean(table[name][lang] for lang in low), table[name][ref_lang]
        parts = [f"{show(low_avg, metric)} = {100 * low_avg / copy:.0f}% of the copy ceiling {show(copy, metric)}"]
        for ref in ("LLM alone", "LLM alone, zero-shot"):
            if ref in table:
                parts.append(f"{low_avg / mean(table[ref][lang] for lang in low):.2f}x the {ref} row")
        lines.append(f"- {name}: " + "; ".join(parts))
    return lines


def _settings(document: dict) -> str:
    return json.dumps({"train_config": document["train_config"], "fusion_options": document["fusion_options"]}, indent=2)


def _html(title: str, md_lines: list[str]) -> str:
    """The Markdown page as a standalone HTML page (images stay beside it in plots/)."""
    body = markdown.markdown("\n".join(md_lines), extensions=["tables", "fenced_code"])
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}"
             "pre{background:#f6f6f6;padding:1em;overflow:auto}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{body}\n</body></html>\n")
