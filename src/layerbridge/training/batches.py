"""Deterministic batching: the same seed gives the same global batches on any number of
processes, so a 2-process run sees exactly the data of a 1-process run, and a resumed run
continues with exactly the batch it would have seen."""

from __future__ import annotations

import math
from typing import Sequence, TypeVar

import torch

T = TypeVar("T")


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    return math.ceil(num_examples / batch_size)


def global_batch(examples: Sequence[T], step: int, batch_size: int, seed: int) -> list[T]:
    """The examples of optimiser step `step` (0-based): a fresh seeded permutation per epoch."""
    per_epoch = steps_per_epoch(len(examples), batch_size)
    epoch, index = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(examples), generator=generator).tolist()
    return [examples[i] for i in order[index * batch_size : (index + 1) * batch_size]]


def shard(batch: Sequence[T], rank: int, world_size: int) -> list[T]:
    """This process's share of a global batch (strided, so shards differ by at most one)."""
    return list(batch[rank::world_size])


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
