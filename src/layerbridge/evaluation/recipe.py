"""The evaluation recipe: a saved bridge, a task, its languages -> per-language metrics.

Classification: `generate` is the paper's protocol (greedy generation, exact match of the stripped
output with a label word); `rank` picks the label word with the highest log-likelihood (never
invalid, faster). Generation tasks: outputs decoded with `Decoding` (greedy by default) and scored
against their references (chrF++, BLEU, exact match; `evaluation.generation`).
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import torch
from tqdm.auto import tqdm

from layerbridge.precision import resolve
from layerbridge.evaluation.metrics import INVALID, accuracy, confusion_matrix, macro_f1
from layerbridge.evaluation.predict import predict


def autocast(bridge, mixed_precision: str):
    """bf16 autocast on the bridge's device (CPU with native bf16, or GPU); "no": full precision."""
    if resolve(mixed_precision) == "no":
        return nullcontext()
    return torch.autocast(bridge.device.type, dtype=torch.bfloat16)


def evaluate_examples(bridge, examples, label_words, *, mode="rank", batch_size=16, desc=None,
                      mixed_precision="no") -> dict:
    """Metrics and predictions for one language's examples."""
    texts = [e.text for e in examples]
    gold = [e.label for e in examples]
    started = time.perf_counter()
    with tqdm(total=len(texts), desc=desc, unit="ex", leave=False) as bar, autocast(bridge, mixed_precision):
        pred, answers = predict(bridge, texts, label_words, mode=mode, batch_size=batch_size, progress=bar.update)
    seconds = time.perf_counter() - started
    return {
        "n": len(examples),
        "accuracy": accuracy(gold, pred),
        "macro_f1": macro_f1(gold, pred, len(label_words)),
        "invalid": sum(p == INVALID for p in pred),
        "confusion": confusion_matrix(gold, pred, len(label_words)),
        "seconds": round(seconds, 3),
        "predictions": [
            {"id": e.id, "gold": label_words[e.label], "pred": label_words[p] if p != INVALID else None, "answer": a}
            for e, p, a in zip(examples, pred, answers)
        ],
    }


def evaluate_task_examples(bridge, task, examples, *, mode="rank", batch_size=16, desc=None, mixed_precision="no",
                           decoding=None) -> dict:
    """One language's examples of any task: classification metrics, or generation metrics. The examples
    are one language: with center_languages their mean encoder state is moved onto English's.
    `truncated`: how many inputs were longer than max_encoder_length encoder tokens (cut)."""
    with autocast(bridge, mixed_precision), bridge.input_language([e.text for e in examples]):
        if task.is_generation:
            from layerbridge.evaluation.generation import evaluate_generation

            result = evaluate_generation(bridge, examples, task.metrics, decoding=decoding, batch_size=batch_size,
                                         desc=desc)
        else:
            result = evaluate_examples(bridge, examples, task.label_words, mode=mode, batch_size=batch_size,
                                       desc=desc, mixed_precision=mixed_precision)
    return {**result, "truncated": sum(bridge.truncated([e.text for e in examples]))}


def truncation_warning(truncated: int, total: int, config) -> str | None:
    """The warning line for inputs cut to max_encoder_length (None when none was)."""
    if not truncated:
        return None
    kept = "end" if config.truncation_side == "left" else "start"
    return (f"warning: {truncated} of {total} inputs were longer than max_encoder_length={config.max_encoder_length} "
            f"encoder tokens and were cut (their {kept} kept)")


def evaluate(bridge, task, languages, *, mode="rank", limit=None, data_dir=None, source="auto",
             batch_size=16, seed=0, mixed_precision="no", decoding=None) -> dict[str, dict]:
    """Per language: the metrics of `evaluate_task_examples` on the task's evaluation split. Refused for a
    task whose data the bridge's training saw (bridge/lineage.py: e.g. bitext written from its rows)."""
    from layerbridge.bridge.lineage import refuse_seen
    from layerbridge.tasks import load_examples

    refuse_seen(bridge.config, task.name)
    bridge.eval()
    results = {}
    for lang in languages:
        examples = load_examples(task, lang, task.eval_split, data_dir=data_dir, source=source, limit=limit, seed=seed)
        label = "generate" if task.is_generation else mode
        results[lang] = evaluate_task_examples(bridge, task, examples, mode=mode, batch_size=batch_size,
                                               desc=f"{task.name}/{lang} ({label})", mixed_precision=mixed_precision,
                                               decoding=decoding)
    return results
