"""Deterministic batching: the same seed gives the same global batches on any number of
processes, so a 2-process run sees exactly the data of a 1-process run, and a resumed run
continues with exactly the batch it would have seen.

Length bucketing (less padding): each epoch's shuffled order is cut into windows of
BUCKET_WINDOW batches, each window is sorted by length and cut into batches, and the batches are
shuffled again. Batches stay random in content order but hold texts of similar length.
"""

from __future__ import annotations

import math
from typing import Sequence, TypeVar

import torch

T = TypeVar("T")
BUCKET_WINDOW = 50  # batches per sorting window


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    return math.ceil(num_examples / batch_size)


def epoch_batches(num_examples: int, batch_size: int, seed: int, epoch: int,
                  lengths: Sequence[int] | None = None) -> list[list[int]]:
    """The example indices of every batch of `epoch`; bucketed by `lengths` when given."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(num_examples, generator=generator).tolist()
    if lengths is not None:
        window = batch_size * BUCKET_WINDOW
        order = [i for start in range(0, num_examples, window)
                 for i in sorted(order[start : start + window], key=lambda i: lengths[i])]
    batches = [order[i : i + batch_size] for i in range(0, num_examples, batch_size)]
    if lengths is not None:
        shuffle = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[i] for i in shuffle]
    return batches


def global_batch(examples: Sequence[T], step: int, batch_size: int, seed: int,
                 lengths: Sequence[int] | None = None) -> list[T]:
    """The examples of optimiser step `step` (0-based)."""
    epoch, index = divmod(step, steps_per_epoch(len(examples), batch_size))
    return [examples[i] for i in epoch_batches(len(examples), batch_size, seed, epoch, lengths)[index]]


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def dropout_seed(seed: int, step: int, part: int) -> int:
    """The RNG seed of micro-batch `part` of optimiser step `step`: dropout then depends on the data
    only, not on how many processes share the batch or on where a run was resumed."""
    return ((seed * 1_000_003 + step) * 1_009 + part) % 2**63
