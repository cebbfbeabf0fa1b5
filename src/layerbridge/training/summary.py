"""What a training run writes besides its weights: the step log (`train_log.jsonl`), the dev score
that picks the best weights (English, or the mean over --dev-languages), where the fusion puts its weight
(and the note when it has collapsed onto one layer), and the run's summary (`train_summary.json`, which
`compare` reads)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from layerbridge.io import atomic_write_text
from layerbridge.tasks.parallel_dev import dev_rows
from layerbridge.training.objectives import objective_summary

LOG_NAME = "train_log.jsonl"
SUMMARY_NAME = "train_summary.json"
DEV_KEYS = ("dev_accuracy", "dev_chrf")  # the dev score in a log entry: classification, generation
COLLAPSED = 0.99  # mean top layer weight per token above which a fusion reads a single layer


def read_log(out: Path) -> list[dict]:
    path = out / LOG_NAME
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def write_log(out: Path, log: list[dict]) -> None:
    atomic_write_text(out / LOG_NAME, "".join(json.dumps(e) + "\n" for e in log))


def dev_key(entry: dict) -> str | None:
    """The dev score's key in a log entry, or None when the step was not scored."""
    return next((key for key in DEV_KEYS if key in entry), None)


def summary_dev_score(summary: dict) -> float | None:
    """The English dev score a finished run's summary reports (accuracy, or chrF++), or None."""
    return next((summary[key] for key in DEV_KEYS if summary.get(key) is not None), None)


def best_dev(log: list[dict]) -> tuple[int, str, float] | None:
    """(step, key, score) of the best English dev score in the log (the first of equal ones), or None."""
    scored = [(e["step"], key, e[key]) for e in log for key in DEV_KEYS if key in e]
    return max(scored, key=lambda s: (s[2], -s[0])) if scored else None


def scores_since_best(log: list[dict]) -> int:
    """How many English dev scores came after the best one (0 when the last is the best, or none)."""
    best = best_dev(log)
    return sum(1 for e in log if e["step"] > best[0] and dev_key(e)) if best else 0


def fusion_snapshot(bridge) -> dict:
    """What to log about the fusion: the global-softmax weights over layers, when there are some."""
    fusion = bridge.fusion
    if hasattr(fusion, "global_weights"):
        return {"global_weights": [round(w, 5) for w in fusion.global_weights().tolist()]}
    return {}


def dev_languages(run) -> dict:
    """{"dev_languages": [...]} where the dev set is read in other languages than the training text
    (--dev-languages: dev_chrf is their mean), from the examples scored, not the setting."""
    langs = list(dict.fromkeys(e.lang for e in run.dev_examples))
    return {"dev_languages": langs} if set(langs) - {e.lang for e in run.train_examples} else {}


@torch.no_grad()
def layer_use(bridge, texts: list[str]) -> dict:
    """Where the fusion puts each token's weight on a few dev texts: the mean weight per fused hidden
    state, and the mean top weight per token (near 1: every token reads one layer; the token gate
    collapses like that, onto a layer English data cannot choose well, docs/fusion-study.md)."""
    weights = torch.cat([row["weights"] for row in bridge.layer_weights(texts)]).float()  # (tokens, L)
    return {"dev_layer_weights": [round(w, 4) for w in weights.mean(0).tolist()],
            "dev_top_weight_per_token": round(float(weights.max(-1).values.mean()), 4)}


def collapse_note(cfg, bridge, use: dict) -> str | None:
    """A warning when the fusion put each token's weight on a single layer."""
    if not use or len(bridge.layer_indices) <= 1 or use["dev_top_weight_per_token"] <= COLLAPSED:
        return None
    top = bridge.layer_indices[max(range(len(bridge.layer_indices)), key=use["dev_layer_weights"].__getitem__)]
    advice = "a lower --fusion-lr keeps it mixing layers"
    if cfg.bridge.fusion_options.get("init") != "last":
        advice += ", --fusion-option init=last keeps it on the last ones"
    return (f"note: the {cfg.bridge.fusion} fusion gives each token {use['dev_top_weight_per_token']:.3f} of its weight "
            f"on one layer (encoder hidden state {top}): it has collapsed onto one layer, and English data alone "
            f"chooses layers that can transfer badly; {advice} (docs/fusion-study.md)")


def write_summary(run) -> None:
    """Main process: train_summary.json of the recipe's finished `Run` (and the collapse note when
    the fusion reads one layer)."""
    cfg, bridge, task, log = run.cfg, run.bridge, run.task, run.log
    bridge.eval()
    use, other_dev = {}, dev_languages(run)
    if bridge.reads_soft_tokens:
        with run.accelerator.autocast():
            english = run.train_examples if other_dev else (run.dev_examples or run.train_examples)
            use = layer_use(bridge, [e.text for e in english[:16]])
    note = collapse_note(cfg, bridge, use)
    if note:
        run.accelerator.print(note)
    last = lambda key: next((e[key] for e in reversed(log) if key in e), None)  # noqa: E731
    summary = {
        "task": task.name, "fusion": cfg.bridge.fusion, "steps": run.steps_done,
        **({"stopped_early": {"step": run.stopped_early, "max_steps": run.total_steps,
                              "patience": cfg.early_stopping_patience}} if run.stopped_early else {}),
        "train_examples": len(run.train_examples), "dev_examples": dev_rows(run.dev_examples),
        "processes": run.accelerator.num_processes, "mixed_precision": run.accelerator.mixed_precision,
        "examples": run.seen, "seconds": round(run.seconds, 2),
        "examples_per_second": round(run.seen / run.seconds, 3) if run.seconds > 0 else None,
        "final_loss": log[-1]["loss"] if log else None, "dev_accuracy": last("dev_accuracy"),
        "inputs_truncated": run.inputs_truncated, **objective_summary(cfg, run.objective),
        **({"dev_chrf": last("dev_chrf"), "max_target_length": run.max_target, "targets_truncated": run.truncated}
           if task.is_generation else {}),
        **other_dev,
        "trainable_parameters": bridge.parameter_counts()["trainable"], **fusion_snapshot(bridge), **use,
        **({"lexical_init": run.lexical} if run.lexical else {}),
    }
    best = best_dev(log) if cfg.keep_best else None
    if best:  # the saved bridge is the best dev one: its score (and each dev language's) is the run's
        summary.update({"best_step": best[0], best[1]: best[2], f"last_{best[1]}": last(best[1])})
        kept = next(e for e in log if e["step"] == best[0])
        if "dev_chrf_languages" in kept:
            summary["dev_chrf_languages"] = kept["dev_chrf_languages"]
    atomic_write_text(run.out / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
