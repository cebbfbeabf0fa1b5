"""What every benchmark part shares: models, real data, batches, side-by-side timing, memory."""

from __future__ import annotations

import os
import random
import resource
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.loading import load_models
from layerbridge.precision import frozen_dtype, native_bf16
from layerbridge.training.batches import epoch_batches

REPO = Path(__file__).resolve().parents[1]
BATCH_SIZE = 8
SEED = 0


def default_data_dir() -> Path:
    return Path(os.environ.get("LAYERBRIDGE_DATA_DIR") or REPO.parent / "shared" / "data")


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_gb() -> float:
    """Resident memory of this process now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


PRECISION_CHOICES = ("auto", "fp32", "bf16")


def resolve_precision(choice: str) -> str:
    """The precision the benchmark computes in: "auto" follows the recipe (`--mixed-precision auto`,
    `layerbridge.precision.resolve`): bf16 where the hardware has native bf16, else fp32."""
    if choice not in PRECISION_CHOICES:
        raise ValueError(f"precision {choice!r}: expected one of {PRECISION_CHOICES}")
    if choice == "auto":
        return "bf16" if native_bf16() else "fp32"
    return choice


def precisions(base: str) -> tuple[str, ...]:
    """The precisions measured side by side: fp32 and bf16 when bf16 is used, else fp32 alone
    (bf16 without native support is emulated, orders of magnitude slower: not worth timing)."""
    return ("fp32", "bf16") if base == "bf16" else ("fp32",)


def mixed_precision(precision: str) -> str:
    """The recipe's --mixed-precision value for a measured precision ("fp32" / "bf16")."""
    return "bf16" if precision == "bf16" else "no"


# ------------------------------------------------------------------------------ models and data
class Models:
    """The default BridgeConfig's (encoder, encoder tokenizer, llm, llm tokenizer), loaded once per
    precision as the recipe loads them: float32, or held in bf16 for bf16 runs
    (`layerbridge.precision.frozen_dtype`: half the memory, no per-step weight casts)."""

    def __init__(self):
        self._loaded: dict[str, tuple] = {}

    def __call__(self, precision: str) -> tuple:
        if precision not in self._loaded:
            dtype = frozen_dtype(mixed_precision(precision))
            self._loaded[precision] = load_models(BridgeConfig(), dtype=dtype)
        return self._loaded[precision]


def make_bridge(models: tuple, fusion: str) -> LayerBridge:
    torch.manual_seed(SEED)
    return LayerBridge(BridgeConfig(fusion=fusion), *models)


def load_task_data(task_name: str, data_dir: Path, eval_limit: int):
    """(task, English training pool, English evaluation examples) from the local data folder."""
    from layerbridge.tasks import get_task, load_examples, load_train_dev

    task = get_task(task_name)
    with warnings.catch_warnings():  # XNLI trains on its English validation split offline (documented)
        warnings.simplefilter("ignore")
        train, _ = load_train_dev(task, data_dir=data_dir, source="local", seed=SEED)
    test = load_examples(task, "en", task.eval_split, data_dir=data_dir, source="local", limit=eval_limit, seed=SEED)
    return task, train, test


# ------------------------------------------------------------------------------ batches
@dataclass
class Batch:
    examples: list
    enc_lengths: list[int]  # real encoder tokens per text
    llm_lengths: list[int]  # real LLM tokens per sequence: [BOS] + soft + boundary + targets (with EOS)
    target_ids: list[list[int]]

    @property
    def size(self) -> int:
        return len(self.examples)


def llm_length(bridge, enc_length: int, n_targets: int) -> int:
    return (bridge.bos_id is not None) + enc_length + 1 + n_targets


def make_batch(bridge, examples, lengths_by_id: dict, label_ids) -> Batch:
    enc = [lengths_by_id[e.id] for e in examples]
    targets = [label_ids[e.label] for e in examples]
    return Batch(list(examples), enc, [llm_length(bridge, s, len(t)) for s, t in zip(enc, targets)], targets)


def padding_fraction(groups: list[list[int]]) -> float:
    """Share of padded slots when each group is padded to its longest member."""
    real = sum(sum(g) for g in groups)
    slots = sum(len(g) * max(g) for g in groups)
    return 1 - real / slots


@dataclass
class TrainingBatches:
    bucketed: list[Batch]  # the recipe's length-bucketed batches, spread evenly over their lengths
    random: list[Batch]  # the same examples in random batches (bucketing off)
    warmup: Batch
    longest: Batch  # the epoch's bucketed batch with the most padded LLM positions (peak memory)
    padding: dict = field(default_factory=dict)  # padding fractions, whole epoch and timed batches


def training_batches(bridge, train, label_ids, n_batches: int) -> TrainingBatches:
    """Timed batches drawn from the recipe's own epoch-0 order (training.batches.epoch_batches).

    Bucketed: n batches picked evenly across the batches sorted by mean length (so short and long
    batches are represented as in a whole epoch). Random: the same examples shuffled into n
    batches, so both arms do the same real work and differ only by padding."""
    lengths = bridge.token_lengths([e.text for e in train])
    by_id = {e.id: s for e, s in zip(train, lengths)}
    bucketed_idx = [b for b in epoch_batches(len(train), BATCH_SIZE, SEED, 0, lengths) if len(b) == BATCH_SIZE]
    random_idx = [b for b in epoch_batches(len(train), BATCH_SIZE, SEED, 0, None) if len(b) == BATCH_SIZE]
    ordered = sorted(bucketed_idx, key=lambda b: sum(lengths[i] for i in b))
    picks = [ordered[int((i + 0.5) * len(ordered) / n_batches)] for i in range(n_batches)]
    used = {i for b in picks for i in b}
    warmup = next(b for b in random_idx if not used & set(b))
    flat = [i for b in picks for i in b]
    random.Random(SEED).shuffle(flat)
    shuffled = [flat[k : k + BATCH_SIZE] for k in range(0, len(flat), BATCH_SIZE)]
    batch = lambda idx: make_batch(bridge, [train[i] for i in idx], by_id, label_ids)  # noqa: E731
    bucketed, randomised = [batch(b) for b in picks], [batch(b) for b in shuffled]

    llm_len = lambda i: llm_length(bridge, lengths[i], len(label_ids[train[i].label]))  # noqa: E731
    padding = {
        "epoch_encoder_bucketed": padding_fraction([[lengths[i] for i in b] for b in bucketed_idx]),
        "epoch_encoder_random": padding_fraction([[lengths[i] for i in b] for b in random_idx]),
        "epoch_llm_bucketed": padding_fraction([[llm_len(i) for i in b] for b in bucketed_idx]),
        "epoch_llm_random": padding_fraction([[llm_len(i) for i in b] for b in random_idx]),
        "timed_llm_bucketed": padding_fraction([b.llm_lengths for b in bucketed]),
        "timed_llm_random": padding_fraction([b.llm_lengths for b in randomised]),
        "mean_encoder_tokens": statistics.mean(lengths),
        "train_texts": len(train),
    }
    padded = lambda b: len(b) * max(llm_len(i) for i in b)  # noqa: E731
    return TrainingBatches(bucketed, randomised, batch(warmup), batch(max(bucketed_idx, key=padded)), padding)


# ------------------------------------------------------------------------------ side-by-side timing
@dataclass
class Arm:
    """One configuration measured side by side with others: run(i) does unit of work i."""

    name: str
    run: Callable[[int], None]
    warmup: Callable[[], None] | None = None
    seconds: list[float] = field(default_factory=list)


def interleave(arms: list[Arm], rounds: int, between: Callable[[int], None] | None = None,
               log: Callable[[str], None] = print, repeats: int = 2) -> None:
    """Warm every arm up, then run round r of every arm in turn (rotating who goes first), so
    that a slow spell of the machine hits all arms alike; every round is run `repeats` times and
    each arm keeps its fastest time (another process's burst only ever slows a step down).
    Fills each arm's `seconds` (one per round)."""
    for arm in arms:
        if arm.warmup is not None:
            arm.warmup()
    for r in range(rounds):
        if between is not None:
            between(r)
        best = {arm.name: float("inf") for arm in arms}
        for rep in range(repeats):
            shift = (r + rep) % len(arms)
            for arm in arms[shift:] + arms[:shift]:
                start = time.perf_counter()
                arm.run(r)
                best[arm.name] = min(best[arm.name], time.perf_counter() - start)
        for arm in arms:
            arm.seconds.append(best[arm.name])
        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{a.name} {a.seconds[-1]:.2f}s" for a in arms))
