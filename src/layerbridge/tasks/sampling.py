"""Deterministic, per-class stratified sampling: train_limit, the dev carve-out, eval_limit (for a
parallel generation task, drawn once on the reference language and kept by row id: `same_rows`).

Quotas are proportional to the class counts (largest-remainder rounding, ties to the lower
label index); inside each class the rows are drawn by a `random.Random` seeded from a string
(stable across processes and Python hash seeds). Results keep the input order.
"""

from __future__ import annotations

import math
import random
import warnings
from collections import defaultdict
from typing import Sequence, TypeVar

from layerbridge.errors import ConfigError

from .base import Example
from .convert import SkippedRowsWarning

E = TypeVar("E", bound=Example)

DEV_MAX = 1000  # the paper holds out 1,000 English examples
DEV_FRACTION = 0.10  # ... but never more than 10% of a small training set (SIB-200: 701 -> 70)


def quotas(counts: dict[int, int], k: int) -> dict[int, int]:
    """Per-class sizes summing to k (k <= total), proportional to counts."""
    total = sum(counts.values())
    if k >= total:
        return dict(counts)
    exact = {c: k * n / total for c, n in counts.items()}
    out = {c: math.floor(x) for c, x in exact.items()}
    rest = k - sum(out.values())
    order = sorted(counts, key=lambda c: (-(exact[c] - out[c]), c))
    for c in order[:rest]:
        out[c] += 1
    return out


def _pick(examples: Sequence[E], k: int, seed: int | str, salt: str) -> set[int]:
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_class[ex.label].append(i)
    sizes = quotas({c: len(v) for c, v in by_class.items()}, k)
    chosen: set[int] = set()
    for c in sorted(by_class):
        idx = list(by_class[c])
        random.Random(f"{salt}:{seed}:{c}").shuffle(idx)
        chosen.update(idx[: sizes[c]])
    return chosen


def stratified_sample(examples: Sequence[E], k: int | None, *, seed: int = 0, salt: str = "sample") -> list[E]:
    """k examples with class proportions kept (all when k is None or >= len); input order kept."""
    if k is None or k >= len(examples):
        return list(examples)
    if k < 0:
        raise ConfigError(f"a sample size must be >= 0, not {k}")
    chosen = _pick(examples, k, seed, salt)
    return [ex for i, ex in enumerate(examples) if i in chosen]


def same_rows(examples: Sequence[E], chosen: Sequence[Example], *, where: str) -> list[E]:
    """The examples whose row ids are those `chosen` (the reference language's own sample): a parallel
    test set then keeps the same sentences in every language even where a language's file is in
    another order or lacks rows, which would move a positional draw onto other sentences. Input
    order kept; chosen ids the language lacks are left out, with a warning."""
    wanted = {e.row_id for e in chosen}
    kept = [e for e in examples if e.row_id in wanted]
    if len(kept) < len(wanted):
        warnings.warn(f"{where}: {len(wanted) - len(kept)} of the {len(wanted)} sampled ids are not in this "
                      "language; it is evaluated on the others", SkippedRowsWarning, stacklevel=3)
    return kept


def dev_count(n: int, dev_size: int | float | str | None) -> int:
    """Resolve dev_size: "auto"/None -> min(1000, 10% of n); an int count; a fraction in (0, 1); 0 -> none."""
    if dev_size is None or dev_size == "auto":
        return min(DEV_MAX, math.floor(n * DEV_FRACTION))
    if isinstance(dev_size, bool) or not isinstance(dev_size, (int, float)):
        raise ConfigError(f"dev_size must be 'auto', a count or a fraction, not {dev_size!r}")
    if isinstance(dev_size, float) and 0 < dev_size < 1:
        return math.floor(n * dev_size)
    if dev_size < 0 or dev_size != int(dev_size):
        raise ConfigError(f"dev_size must be 'auto', a count >= 0 or a fraction in (0, 1), not {dev_size!r}")
    if dev_size >= n:
        raise ConfigError(f"dev_size {int(dev_size)} leaves no training data ({n} examples)")
    return int(dev_size)


def split_train_dev(
    examples: Sequence[E], *, dev_size: int | float | str | None = "auto", train_limit: int | None = None, seed: int = 0
) -> tuple[list[E], list[E]]:
    """Carve a stratified dev set out of the pool first, then cap the rest at train_limit (stratified).

    The dev set therefore does not depend on train_limit, and the two never share a row.
    """
    if train_limit is not None and train_limit <= 0:
        raise ConfigError(f"train_limit must be > 0, not {train_limit}")
    k = dev_count(len(examples), dev_size)
    dev_idx = _pick(examples, k, seed, "dev") if k else set()
    dev = [ex for i, ex in enumerate(examples) if i in dev_idx]
    rest = [ex for i, ex in enumerate(examples) if i not in dev_idx]
    train = stratified_sample(rest, train_limit, seed=seed, salt="train")
    return train, dev
