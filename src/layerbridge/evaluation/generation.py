"""Evaluation of generation tasks: decode every example's output, then score it against its reference
(chrF++, BLEU, exact match, numeric answer; `text_metrics`), with a 95% bootstrap interval over the
sentences for chrF++ and BLEU (`bootstrap`). Predictions keep input, output, reference."""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from layerbridge.decoding import Decoding, decoding_for  # noqa: F401  (where it was defined before; callers import it here)
from layerbridge.evaluation.bootstrap import intervals
from layerbridge.evaluation.predict import length_sorted_batches
from layerbridge.evaluation.text_metrics import score_all


@torch.no_grad()
def generate_texts(bridge, texts: list[str], decoding: Decoding | None = None, *, batch_size: int = 16,
                   progress=None) -> list[str]:
    """Outputs in input order, batched by length (less padding; each batch sampled with its own seed);
    decoded as `decoding` says, else as the bridge was saved to (generation_config.json), else greedily."""
    decoding = decoding_for(bridge, decoding)
    outputs = [""] * len(texts)
    for number, idx in enumerate(length_sorted_batches(texts, batch_size)):
        settings = decoding.generate_kwargs()
        batch = bridge.generate([texts[i] for i in idx], **{
            **settings, "seed": decoding.seed + number if decoding.do_sample else None})
        for i, out in zip(idx, batch):
            outputs[i] = out
        if progress is not None:
            progress(len(idx))
    return outputs


def evaluate_generation(bridge, examples, metrics: tuple[str, ...], *, decoding: Decoding | None = None,
                        batch_size: int = 16, desc: str | None = None, autocast=None) -> dict:
    """Metrics, their bootstrap intervals (`chrf_ci95`, `bleu_ci95`: a corpus score from 16-64 sentences moves
by points) and predictions ({id, input, output, reference}) for one language's examples."""
    from contextlib import nullcontext

    texts = [e.text for e in examples]
    started = time.perf_counter()
    with tqdm(total=len(texts), desc=desc, unit="ex", leave=False) as bar, (autocast or nullcontext()):
        outputs = generate_texts(bridge, texts, decoding, batch_size=batch_size, progress=bar.update)
    references = [e.target for e in examples]
    return {
        "n": len(examples),
        **score_all(metrics, outputs, references),
        **intervals(metrics, outputs, references),
        "empty_outputs": sum(not o.strip() for o in outputs),
        "seconds": round(time.perf_counter() - started, 3),
        "predictions": [{"id": e.id, "input": e.text, "output": o, "reference": e.target}
                        for e, o in zip(examples, outputs)],
    }
