"""Evaluation of generation tasks: decode every example's output, then score it against its reference
(chrF++, BLEU, exact match, numeric answer; `text_metrics`). Predictions keep input, output, reference."""

from __future__ import annotations

import dataclasses
import time

import torch
from tqdm.auto import tqdm

from layerbridge.errors import ConfigError
from layerbridge.evaluation.predict import length_sorted_batches
from layerbridge.evaluation.text_metrics import score_all


@dataclasses.dataclass
class Decoding:
    """How outputs are decoded: greedy by default; beam search with num_beams > 1; sampling with
    do_sample (temperature, top_p, seeded); repetition_penalty > 1 and no_repeat_ngram_size > 0 (no
    n-gram twice) against loops. Every row stops at EOS, at a stop string, or after max_new_tokens."""

    max_new_tokens: int = 128
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ("\n",)
    seed: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    stop_after_text: bool = True  # a stop string ends a row only after its first non-whitespace text

    def __post_init__(self):
        self.stop = tuple(self.stop)
        if (self.max_new_tokens < 1 or self.num_beams < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1
                or self.repetition_penalty <= 0 or self.no_repeat_ngram_size < 0):
            raise ConfigError(f"invalid decoding settings {self}")
        if self.do_sample and self.num_beams > 1:
            raise ConfigError("choose beam search (num_beams > 1) or sampling (do_sample), not both")
        if any(not s for s in self.stop):
            raise ConfigError("a stop string may not be empty")


@torch.no_grad()
def generate_texts(bridge, texts: list[str], decoding: Decoding, *, batch_size: int = 16, progress=None) -> list[str]:
    """Outputs in input order, batched by length (less padding; each batch sampled with its own seed)."""
    outputs = [""] * len(texts)
    for number, idx in enumerate(length_sorted_batches(texts, batch_size)):
        batch = bridge.generate([texts[i] for i in idx], max_new_tokens=decoding.max_new_tokens, stop_at_newline=False,
                                stop_strings=list(decoding.stop), num_beams=decoding.num_beams,
                                do_sample=decoding.do_sample, temperature=decoding.temperature, top_p=decoding.top_p,
                                seed=decoding.seed + number if decoding.do_sample else None,
                                repetition_penalty=decoding.repetition_penalty,
                                no_repeat_ngram_size=decoding.no_repeat_ngram_size,
                                stop_after_text=decoding.stop_after_text)
        for i, out in zip(idx, batch):
            outputs[i] = out
        if progress is not None:
            progress(len(idx))
    return outputs


def evaluate_generation(bridge, examples, metrics: tuple[str, ...], *, decoding: Decoding | None = None,
                        batch_size: int = 16, desc: str | None = None, autocast=None) -> dict:
    """Metrics and predictions ({id, input, output, reference}) for one language's examples."""
    from contextlib import nullcontext

    decoding = decoding or Decoding()
    texts = [e.text for e in examples]
    started = time.perf_counter()
    with tqdm(total=len(texts), desc=desc, unit="ex", leave=False) as bar, (autocast or nullcontext()):
        outputs = generate_texts(bridge, texts, decoding, batch_size=batch_size, progress=bar.update)
    references = [e.target for e in examples]
    return {
        "n": len(examples),
        **score_all(metrics, outputs, references),
        "empty_outputs": sum(not o.strip() for o in outputs),
        "seconds": round(time.perf_counter() - started, 3),
        "predictions": [{"id": e.id, "input": e.text, "output": o, "reference": e.target}
                        for e, o in zip(examples, outputs)],
    }
