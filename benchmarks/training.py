"""Training steps timed through the real recipe: every arm is a `layerbridge.training.recipe.setup`
Run and one unit of work is `recipe.train_step(run, step)`, the step `layerbridge train` takes
(accelerate's autocast and backward, parameter groups, clipping, AdamW, the schedule, the encoder
cache, length bucketing). The ablation switches a speed-up off through the recipe's own settings
(TrainConfig) or trains a baseline the same way: the authors' full-vocabulary logits (a LayerBridge
subclass, given to the recipe as `setup(cfg, bridge=...)`, as a user trains their own subclass), a
gate whose last layer computes every output, and a plain gate run in full over padded positions
too (fusions registered only while an arm is set up: `gate_baselines()`; importing this module
registers nothing).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from accelerate.utils import set_seed
from torch.utils.flop_counter import FlopCounterMode

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.fusion import FUSIONS as FUSION_REGISTRY, register_fusion
from layerbridge.fusion.base import masked_weights
from layerbridge.fusion.token_softmax import TokenSoftmaxConfig, TokenSoftmaxFusion
from layerbridge.registry import restored
from layerbridge.training import recipe
from layerbridge.training.batches import global_batch
from layerbridge.training.config import TrainConfig

from benchmarks.common import (
    BATCH_SIZE, SEED, Arm, Batch, TrainingBatches, interleave, llm_length, mixed_precision, padding_fraction, peak_rss_gb,
    precisions,
)  # fmt: skip
from benchmarks.flops import Dims, matmul_peak, step_flops

FUSIONS = ("last", "global_softmax", "token_softmax")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


# ------------------------------------------------------------------------------ baselines
class FullLogitsBridge(LayerBridge):
    """The authors' way: the LM head and its float32 logits over the full vocabulary at EVERY
    position (`llm(...).logits`, (B, T, V)), then the target positions picked out."""

    def target_logits(self, inputs):
        logits = self.llm(inputs_embeds=inputs.inputs_embeds, attention_mask=inputs.attention_mask,
                          position_ids=inputs.position_ids, use_cache=False).logits.float()  # (B, T, V)
        return logits[inputs.target_rows, inputs.target_positions]  # (N, V)


class AuthorsBridge(FullLogitsBridge):
    """The authors' pipeline's other choice inside the model: the frozen encoder is left in train
    mode (its dropout active) while the LLM is kept in eval mode."""

    def train(self, mode: bool = True) -> "AuthorsBridge":
        super().train(mode)
        self.encoder.train(mode)
        return self


class DefaultAttentionBridge(LayerBridge):
    """Baseline: torch's default attention kernel in training too (flash attention on this CPU)."""

    def attention_kernel_context(self, inputs):
        return contextlib.nullcontext()


@dataclass
class PaddedGateConfig(TokenSoftmaxConfig):
    name: ClassVar[str] = "token_softmax_padded_gate"


class PaddedGateFusion(TokenSoftmaxFusion):
    """token_softmax as a plain implementation runs it (the authors' code does): the whole gate
    Transformer over every (B x S) position, padding included, then masked. Ours feeds only the
    real tokens to the gate and computes only the CLS output of its last layer."""

    def layer_weights(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, S, L, D = states.shape
        tokens = states.reshape(B * S, L, D) + self.layer_position.to(states.dtype)
        cls = self.cls.to(tokens.dtype).expand(B * S, 1, D)
        gated = self.gate(torch.cat([cls, tokens], dim=1))  # (B*S, L+1, D)
        with torch.autocast(device_type=states.device.type, enabled=False):  # float32 logits, as the real gate
            logits = self.out(gated[:, 0].to(self.out.weight.dtype)).float()  # (B*S, L)
        return masked_weights(torch.softmax(logits, dim=-1).view(B, S, L), mask)


@dataclass
class FullGateConfig(TokenSoftmaxConfig):
    name: ClassVar[str] = "token_softmax_full_gate"


class FullGateFusion(TokenSoftmaxFusion):
    """token_softmax on the real tokens only, but with the whole last gate layer computed (all L+1
    outputs, of which the CLS one is read): the CLS-only readout switched off alone."""

    def gate_cls(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(x)[:, 0]  # (N, L+1, D) -> (N, D)


GATE_BASELINES = (PaddedGateConfig.name, FullGateConfig.name)


@contextmanager
def gate_baselines():
    """The two gate baselines registered as fusions for the block (a bridge is built by fusion name),
    and the registry as it was afterwards."""
    with restored(FUSION_REGISTRY):
        register_fusion(FullGateConfig, FullGateFusion, replace=True)
        register_fusion(PaddedGateConfig, PaddedGateFusion, replace=True)
        yield


# ------------------------------------------------------------------------------ one arm = one recipe run
def reset_precision() -> None:
    """accelerate keeps one mixed-precision setting per process; arms of another precision are set
    up after clearing it (each prepared model keeps the autocast it was prepared with)."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()


class RecipeArm:
    """A recipe Run over `examples` (one epoch = the timed steps) and what its steps cost."""

    def __init__(self, models, task: str, fusion: str, examples: list, out: Path, *, precision: str,
                 encoder_cache: bool = True, bucketing: bool = True, bridge_class: type[LayerBridge] = LayerBridge,
                 encoder_cache_dir: str | None = None, encoder_cache_gb: float = 100.0,
                 gradient_checkpointing: bool = False, bridge: dict | None = None):
        self.fusion = "token_softmax" if fusion in GATE_BASELINES else fusion  # their useful work is the same
        with gate_baselines() if fusion in GATE_BASELINES else contextlib.nullcontext():
            cfg = TrainConfig(task=task, output_dir=str(out), bridge=BridgeConfig(fusion=fusion, **(bridge or {})),
                              learning_rate=1e-3,
                              warmup_ratio=0.0, epochs=1000.0, batch_size=BATCH_SIZE, mixed_precision=mixed_precision(precision),
                              seed=SEED, encoder_cache=encoder_cache, encoder_cache_dir=encoder_cache_dir,
                              encoder_cache_gb=encoder_cache_gb,  # 100: in RAM unless encoder_cache_dir, as the arm says
                              bucket_by_length=bucketing, gradient_checkpointing=gradient_checkpointing, checkpoint_every=10**9,
                              log_every=10**9)  # fmt: skip
            set_seed(cfg.seed)  # as the recipe does before building its own bridge: the same initial weights
            self.run = recipe.setup(cfg, overwrite=True, data=(examples, []), bridge=bridge_class(cfg.bridge, *models))
        self.run.model.train()
        try:
            self.dims = Dims.of(self.run.bridge)
        except ValueError as err:  # a design the FLOP model does not count (Perceiver, cross-attention)
            self.dims, self.unmodelled = None, str(err)

    def step(self, step: int) -> float:
        return recipe.train_step(self.run, step)[0]

    def batch(self, step: int) -> Batch:
        """What step `step` trains on, as the recipe draws it."""
        run = self.run
        examples = global_batch(run.train_examples, step, run.cfg.batch_size, run.cfg.seed, run.lengths)
        enc = run.bridge.token_lengths([e.text for e in examples])
        targets = [run.targets_of[e.id] for e in examples]
        return Batch(examples, enc, [llm_length(run.bridge, s, len(t)) for s, t in zip(enc, targets)], targets)

    def fill_cache(self) -> dict:
        """The first pass over the data: compute and keep every training text's encoder states."""
        texts = [e.text for e in self.run.train_examples]
        start = time.perf_counter()
        if self.run.cache is not None:
            for i in range(0, len(texts), 16):
                self.run.cache.states(texts[i : i + 16])
        seconds = time.perf_counter() - start
        return {"texts": len(texts), "seconds": seconds, "examples_per_s": len(texts) / seconds if seconds else None}

    def flops(self, batch: Batch) -> int:
        if self.dims is None:
            raise ValueError(self.unmodelled)
        n_targets = sum(len(t) for t in batch.target_ids)
        return step_flops(self.dims, self.fusion, batch.enc_lengths, batch.llm_lengths, n_targets,
                          encoder_cached=self.run.cache is not None)["total"]


def timed_examples(batches: TrainingBatches) -> list:
    """The examples of the timed batches: the arms' whole (one-epoch) training set."""
    return [e for b in batches.bucketed for e in b.examples]


def arm(name: str, recipe_arm: RecipeArm, rounds: int) -> Arm:
    a = Arm(name, run=recipe_arm.step, warmup=lambda: recipe_arm.step(rounds))  # warm-up: a step after the timed ones
    a.recipe_arm, a.batches = recipe_arm, [recipe_arm.batch(r) for r in range(rounds)]
    return a


def executed_flops(a: Arm) -> dict:
    """One more step (step 0 again) under FlopCounterMode: the matmul FLOPs the step really executes
    (padding, full logits and recomputation included) next to the useful count."""
    with FlopCounterMode(display=False) as counter:
        a.recipe_arm.step(0)
    return {"executed_gflop_first_batch": counter.get_total_flops() / 1e9,
            "useful_gflop_first_batch": a.recipe_arm.flops(a.batches[0]) / 1e9}


def step_rates(a: Arm, rounds: int) -> dict:
    """Examples/s and real encoder tokens/s of an arm over its timed steps (any design)."""
    batches, seconds = a.batches[:rounds], sum(a.seconds)
    return {
        "steps": rounds,
        "seconds": seconds,
        "median_step_s": sorted(a.seconds)[len(a.seconds) // 2],
        "examples_per_s": sum(b.size for b in batches) / seconds,
        "encoder_tokens_per_s": sum(sum(b.enc_lengths) for b in batches) / seconds,
    }


def arm_throughput(a: Arm, rounds: int) -> dict:
    """step_rates, plus real LLM tokens/s and useful FLOP/s (designs the FLOP model counts)."""
    batches, seconds = a.batches[:rounds], sum(a.seconds)
    useful = sum(a.recipe_arm.flops(b) for b in batches)
    return {
        **step_rates(a, rounds),
        "llm_tokens_per_s": sum(sum(b.llm_lengths) for b in batches) / seconds,
        "useful_flops_per_s": useful / seconds,
        "useful_gflop_per_step": useful / rounds / 1e9,
        "llm_padding": padding_fraction([b.llm_lengths for b in batches]),
    }


# ------------------------------------------------------------------------------ part: throughput
def run_training(models, task: str, batches: TrainingBatches, rounds: int, precision: str = "bf16", log=print) -> dict:
    """Every fusion in fp32 and, when `precision` is bf16, in bf16 too (frozen models held in bf16,
    as the recipe does), encoder cache warm, bucketed batches, side by side; the matmul peak
    (2048^2, in each precision measured) measured before every round of the same run.
    `models(precision)` gives the loaded models."""
    measured = precisions(precision)
    examples = timed_examples(batches)
    arms, fill = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for p in measured:
            reset_precision()
            for fusion in FUSIONS:
                ra = RecipeArm(models(p), task, fusion, examples, Path(tmp) / f"{fusion}-{p}", precision=p)
                filled = ra.fill_cache()
                fill = fill or filled
                arms.append(arm(f"{fusion} {p}", ra, rounds))
        peaks = {p: [] for p in measured}

        def measure_peaks(_round):
            for p in measured:
                peaks[p].append(matmul_peak(DTYPES[p], repeats=2))

        interleave(arms, rounds, between=measure_peaks, log=log)
        peak = {k: max(v) for k, v in peaks.items()}
        results = {}
        for a in arms:
            fusion, p = a.name.split()
            row = {**arm_throughput(a, rounds), **executed_flops(a)}
            row.update(fusion=fusion, precision=p, mfu=row["useful_flops_per_s"] / peak[p])  # against its own peak
            results[a.name] = row
    return {"precision": precision, "arms": results, "matmul_peak_flops": peak, "matmul_peak_samples": peaks,
            "cache_fill": fill, "padding": batches.padding, "peak_rss_gb": peak_rss_gb()}


# ------------------------------------------------------------------------------ part: ablation
ALL_ON = "all on"
CHECKPOINTING = "LLM gradient checkpointing on (memory for compute; off by default)"
BF16_ONLY = ("frozen models held in fp32 (autocast casts them every step)", "bf16 off (fp32 models, no autocast)",
             "LLM attention through torch's default kernel (flash on CPU; bf16 training takes the math kernel)")


def ablation_specs(precision: str) -> list[tuple[str, dict]]:
    """(arm name, what it switches off) of the ablation whose base ("all on") computes in
    `precision`, as RecipeArm keywords plus `models` (the precision whose loaded models it uses).
    In fp32 the two bf16 arms (frozen models kept in fp32, bf16 off) are the base itself, so they
    are left out."""
    specs = [
        (ALL_ON, {}),
        ("encoder cache off", {"encoder_cache": False}),
        ("logits at all positions", {"bridge_class": FullLogitsBridge}),
        ("bucketing off", {"bucketing": False}),
        (BF16_ONLY[0], {"models": "fp32"}),
        (BF16_ONLY[1], {"models": "fp32", "precision": "fp32"}),
        (BF16_ONLY[2], {"bridge_class": DefaultAttentionBridge}),
        ("gate's last layer in full (all L+1 outputs)", {"fusion": FullGateConfig.name}),
        ("gate in full on padded positions too (a plain gate)", {"fusion": PaddedGateConfig.name}),
        (CHECKPOINTING, {"gradient_checkpointing": True}),
    ]
    return specs if precision == "bf16" else [(name, kw) for name, kw in specs if name not in BF16_ONLY]


def run_ablation(models, task: str, batches: TrainingBatches, rounds: int, precision: str = "bf16", log=print) -> dict:
    """token_softmax (the paper's fusion) in `precision` (bf16: with the frozen models held in
    bf16), cache, target-only logits, bucketing, gate on real tokens: all on, then each switched
    off alone; all measured side by side."""
    examples = timed_examples(batches)
    specs = ablation_specs(precision)
    by_name = {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in sorted({kw.get("precision", precision) for _, kw in specs}):  # one accelerate setting at a time
            reset_precision()
            for i, (name, kw) in enumerate(specs):
                kw = {"precision": precision, "fusion": "token_softmax", **kw}
                if kw["precision"] != p:
                    continue
                ra = RecipeArm(models(kw.pop("models", precision)), task, kw.pop("fusion"), examples, Path(tmp) / str(i), **kw)
                ra.fill_cache()
                by_name[name] = arm(name, ra, rounds)
        arms = [by_name[name] for name, _ in specs]
        interleave(arms, rounds, log=log)
        base = sum(arms[0].seconds)
        rows = {a.name: {**arm_throughput(a, rounds), **executed_flops(a), "time_ratio": sum(a.seconds) / base}
                for a in arms}
    # the timed batches are the recipe's own, bucketed or not
    padding = {**batches.padding, "timed_llm_bucketed": rows[ALL_ON]["llm_padding"],
               "timed_llm_random": rows["bucketing off"]["llm_padding"]}
    return {"precision": precision, "arms": rows, "padding": padding, "peak_rss_gb": peak_rss_gb()}


# ------------------------------------------------------------------------------ part: against the authors' choices
AUTHORS_ARMS = {  # arm -> RecipeArm keywords
    "layerbridge, first epoch (encoder computed)": {"encoder_cache": False},
    "layerbridge, later epochs (encoder cached)": {},
    "the authors' choices": {"encoder_cache": False, "bucketing": False, "bridge_class": AuthorsBridge},
}


def authors_fusion(fusion: str) -> str:
    """The authors' gate runs in full over every position, padding included."""
    return PaddedGateConfig.name if fusion == "token_softmax" else fusion


def run_authors(models, task: str, batches: TrainingBatches, rounds: int, log=print) -> dict:
    """Issue 17's comparison, re-created inside our recipe (their code is not on this machine): fp32,
    batch 8, every fusion trained our way, in its first epoch (the encoder computed, as while the
    cache fills) and later (cached), next to the same recipe with the choices METHOD.md measured in
    the authors' pipeline: the encoder recomputed every step and left in train mode, random
    batches (no length bucketing), full-vocabulary float32 logits at every position, and the
    token gate run in full over padded positions too. All arms side by side."""
    examples = timed_examples(batches)
    arms = []
    with tempfile.TemporaryDirectory() as tmp:
        reset_precision()
        for fusion in FUSIONS:
            for i, (name, kw) in enumerate(AUTHORS_ARMS.items()):
                ours = name.startswith("layerbridge")
                ra = RecipeArm(models("fp32"), task, fusion if ours else authors_fusion(fusion), examples,
                               Path(tmp) / f"{fusion}-{i}", precision="fp32", **kw)
                ra.fill_cache()
                arms.append(arm(f"{fusion}: {name}", ra, rounds))
        interleave(arms, rounds, log=log)
        rows = {a.name: {**step_rates(a, rounds), "fusion": a.name.split(":")[0], "arm": a.name.split(": ", 1)[1]}
                for a in arms}
    for row in rows.values():
        theirs = rows[f"{row['fusion']}: the authors' choices"]["seconds"]
        row["speedup_vs_authors"] = theirs / row["seconds"]
    return {"precision": "fp32", "arms": rows, "peak_rss_gb": peak_rss_gb()}
