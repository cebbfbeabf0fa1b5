"""Turn bridge outputs into label predictions: `rank` (highest log-likelihood label: the sum of
its tokens' log-probabilities, EOS included), `rank_mean` (highest mean log-probability per token:
length-normalised, so a multi-token label such as MARC's "Very Negative" is not penalised for its
length) or `generate` (the paper's protocol: greedy generation, exact match after stripping)."""

from __future__ import annotations

from typing import Iterable

import torch

from layerbridge.evaluation.metrics import INVALID

MODES = ("rank", "rank_mean", "generate")


def length_sorted_batches(texts: list[str], batch_size: int) -> Iterable[list[int]]:
    """Indices in batches of similar length: less padding, same results (order is restored)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


@torch.no_grad()
def predict(bridge, texts: list[str], label_words: list[str], mode: str = "rank", batch_size: int = 16,
            progress=None, *, shared_prefix: bool = True, max_new_tokens: int | None = None) -> tuple[list[int], list[str]]:
    """Label index per text (-1: invalid generation) and the raw answer text.

    shared_prefix (rank modes): read each text once for all labels (False: once per label, the
    plain way; same scores). max_new_tokens (generate): the cap; default the longest label + 1."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    labels: list[int] = [INVALID] * len(texts)
    answers: list[str] = [""] * len(texts)
    lookup = {w.strip(): i for i, w in enumerate(label_words)}
    label_ids = bridge.target_ids(label_words)
    max_new = max_new_tokens or max(len(ids) for ids in label_ids) + 1
    tokens = torch.tensor([len(ids) for ids in label_ids], dtype=torch.float32)  # (C,) label tokens + EOS
    for idx in length_sorted_batches(texts, batch_size):
        batch = [texts[i] for i in idx]
        if mode.startswith("rank"):
            scores = bridge.score(batch, label_words, shared_prefix=shared_prefix)  # (B, C) summed log-probabilities
            if mode == "rank_mean":
                scores = scores / tokens.to(scores.device)
            best = scores.argmax(-1).tolist()
            outs = [label_words[b] for b in best]
        else:
            # the paper's protocol: greedy, stopped at a newline, whatever decoding the bridge was saved with
            outs = bridge.generate(batch, max_new_tokens=max_new, stop_at_newline=True, num_beams=1, do_sample=False,
                                   no_repeat_ngram_size=0, repetition_penalty=1.0, stop_strings=[],
                                   stop_after_text=True)
        for i, out in zip(idx, outs):
            answers[i] = out
            labels[i] = lookup.get(out.strip(), INVALID)
        if progress is not None:
            progress(len(idx))
    return labels, answers
