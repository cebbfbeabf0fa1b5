"""English-only training objectives beyond restating (TrainConfig.objective, encoder_token_dropout).

A generation task whose training target restates its input (flores_en: each English text is its own
target) can teach the bridge to copy surface form rather than meaning. Two ways to make it carry more:

- `objective="continuation"` (LangBridge's objective on unlabelled text): the encoder reads the first
  part of each English training text, the LLM writes the rest. The split is at a word boundary (a
  run of whitespace), after word k of the text's n words, k drawn uniformly from
  [ceil(0.3 n), floor(0.7 n)] (at least 1 word on each side) by a hash of (seed, example id): the same
  split on every process, after a resume and in every epoch. Texts of fewer than MIN_SPLIT_WORDS
  words keep restating (counted, and said). Only the training examples change: the English dev set
  still restates, so the dev score measures the task the bridge is evaluated on.
- `encoder_token_dropout=p` (a bottleneck, as LangBridge and MindMerger drop input tokens): in each
  training step every real encoder position of a text is left out of what the LLM reads with
  probability p (its soft token removed, and masked in cross-attention), at least one position kept;
  drawn from (seed, step, example id), so it does not depend on the batching, the number of
  processes, a resume or the encoder cache. Evaluation never drops anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re

import torch

from layerbridge.errors import ConfigError

OBJECTIVES = ("restate", "continuation")
MIN_SPLIT_WORDS = 4  # a shorter text keeps restating: too little to read and to write
SPLIT_RANGE = (0.3, 0.7)  # the share of a text's words the encoder reads, drawn uniformly in between
WORD = re.compile(r"\S+")


def unit_draw(*key) -> float:
    """A number in [0, 1) that depends on `key` only (seed, step, example id): the same in every process,
    on resume and whatever the batching, unlike a draw from a shared generator."""
    digest = hashlib.sha256("/".join(map(str, key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_point(num_words: int, draw: float) -> int:
    """How many words the encoder reads (k) of a text of `num_words` words, for a draw in [0, 1)."""
    low = max(1, math.ceil(SPLIT_RANGE[0] * num_words))
    high = max(low, min(num_words - 1, math.floor(SPLIT_RANGE[1] * num_words)))
    return low + int(draw * (high - low + 1))


def continuation_split(text: str, seed: int, example_id: str) -> tuple[str, str] | None:
    """(what the encoder reads, what the LLM writes) of one English text, or None when it has fewer than
    MIN_SPLIT_WORDS words. The two are the text cut before one of its words, the whitespace there
    dropped: `text` is the first, that whitespace and the second."""
    words = list(WORD.finditer(text))
    if len(words) < MIN_SPLIT_WORDS:
        return None
    cut = words[split_point(len(words), unit_draw("continuation", seed, example_id))].start()
    return text[:cut].rstrip(), text[cut:]


def check_objective(objective: str, task, examples: list) -> None:
    """`continuation` splits an English text that is its own target: refused, naming the option, for a
    classification task or a generation task whose training target is not its input."""
    if objective == "restate":
        return
    if not task.is_generation:
        raise ConfigError(f"objective={objective!r}: task {task.name!r} is a classification task; the continuation "
                          "objective needs a generation task whose training target restates its input (flores_en)")
    other = next((e for e in examples if e.target != e.text), None)
    if other is not None:
        raise ConfigError(f"objective={objective!r}: the training target of task {task.name!r} is not its input "
                          f"(example {other.id}: reads {other.text[:60]!r}, writes {other.target[:60]!r}); the "
                          "continuation objective splits an English text that is its own target (flores_en)")


def objective_examples(objective: str, task, examples: list, seed: int) -> tuple[list, dict]:
    """The training examples under `objective` (new Examples; the given ones are left as they are: compare
    shares them) and its counts for the run's summary ({} for restate)."""
    check_objective(objective, task, examples)
    if objective == "restate":
        return examples, {}
    out, short = [], 0
    for e in examples:
        split = continuation_split(e.text, seed, e.id)
        short += split is None
        out.append(e if split is None else dataclasses.replace(e, text=split[0], target=split[1]))
    return out, {"continuation_split": len(examples) - short, "continuation_restated": short}


def token_dropout_mask(mask: torch.Tensor, example_ids: list[str], p: float, seed: int, step: int) -> torch.Tensor:
    """The encoder positions the LLM reads in training step `step`: `mask` (B, S) with each real position
    of row b dropped with probability p, drawn from (seed, step, example_ids[b]); at least one real
    position of every row is kept. Same dtype and device as `mask`."""
    keep = torch.zeros(mask.shape, dtype=torch.bool)  # (B, S)
    for b, example_id in enumerate(example_ids):
        real = mask[b].nonzero().squeeze(1).cpu()  # (n,) positions of the real tokens (any padding side)
        generator = torch.Generator().manual_seed(int(unit_draw("token_dropout", seed, step, example_id) * 2**63))
        kept = torch.rand(len(real), generator=generator) >= p  # (n,)
        if len(real) and not kept.any():
            kept[torch.randint(len(real), (1,), generator=generator)] = True
        keep[b, real[kept]] = True
    return mask * keep.to(device=mask.device, dtype=mask.dtype)


def objective_summary(cfg, counts: dict) -> dict:
    """What train_summary.json says of the objective: the setting, its counts, the token dropout."""
    return {"objective": cfg.objective, **counts, "encoder_token_dropout": cfg.encoder_token_dropout}
