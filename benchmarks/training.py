"""Training steps as the recipe runs them, and the baselines the ablation switches to.

A step = forward under the chosen precision, example losses summed / batch size (the recipe's
scaling), backward, gradient clipping at 1.0, AdamW step over the trainable parameters, zero_grad.
"""

from __future__ import annotations

import time
import types

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from layerbridge.encoder_cache import EncoderStateCache
from layerbridge.precision import cache_dtype
from layerbridge.fusion.base import masked_weights

from benchmarks.common import Arm, Batch, TrainingBatches, autocast, interleave, make_bridge, peak_rss_gb, precisions
from benchmarks.flops import Dims, matmul_peak, step_flops

FUSIONS = ("last", "global_softmax", "token_softmax")


# ------------------------------------------------------------------------------ baselines
def full_logits_example_loss(bridge, target_ids, attention_mask, input_ids=None, encoder_states=None):
    """The authors' way: LM head and log-softmax over the full vocabulary at EVERY position
    (`bridge.llm(...).logits`, (B, T, V)), cross-entropy with the non-target positions ignored."""
    if encoder_states is None:
        encoder_states = bridge.encoder_states(input_ids, attention_mask)
    soft, _ = bridge.soft_tokens(encoder_states, attention_mask)
    inputs = bridge.llm_inputs(soft, attention_mask, target_ids)
    logits = bridge.llm(inputs_embeds=inputs.inputs_embeds, attention_mask=inputs.attention_mask,
                        position_ids=inputs.position_ids).logits  # (B, T, V)
    B, T, V = logits.shape
    labels = torch.full((B, T), -100, dtype=torch.long, device=logits.device)
    labels[inputs.target_rows, inputs.target_positions] = inputs.target_ids
    nll = F.cross_entropy(logits.float().view(B * T, V), labels.view(-1), reduction="none").view(B, T)
    counts = torch.tensor([len(t) for t in target_ids], dtype=nll.dtype, device=nll.device)
    return nll.sum(dim=1) / counts


def gate_on_all_positions(fusion, states, mask):
    """token_softmax with its gate run over every (B x S) position, padding included, then masked
    (what a plain implementation does); ours feeds only the real tokens to the gate."""
    B, S, L, D = states.shape
    tokens = states.reshape(B * S, L, D) + fusion.layer_position.to(states.dtype)
    cls = fusion.cls.to(tokens.dtype).expand(B * S, 1, D)
    gated = fusion.gate(torch.cat([cls, tokens], dim=1))  # (B*S, L+1, D)
    weights = torch.softmax(fusion.out(gated[:, 0]).float(), dim=-1).view(B, S, L)
    return masked_weights(weights, mask)


# ------------------------------------------------------------------------------ one trainer
class Trainer:
    """A fresh bridge with its optimiser; `step(batch)` is one real optimiser step."""

    def __init__(self, models, fusion: str, *, bf16: bool, cache: EncoderStateCache | None,
                 full_logits: bool = False, gate_on_padding: bool = False):
        self.fusion, self.bf16, self.cache, self.full_logits = fusion, bf16, cache, full_logits
        self.bridge = make_bridge(models, fusion)
        if gate_on_padding:
            self.bridge.fusion.layer_weights = types.MethodType(gate_on_all_positions, self.bridge.fusion)
        self.bridge.train()
        self.params = [p for p in self.bridge.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-3)
        self.dims = Dims.of(self.bridge)

    def example_losses(self, batch: Batch) -> torch.Tensor:
        texts = [e.text for e in batch.examples]
        if self.cache is not None:
            states, mask = self.cache.states(texts)
            inputs = {"attention_mask": mask, "encoder_states": states}
        else:
            inputs = self.bridge.tokenize(texts)
        if self.full_logits:
            return full_logits_example_loss(self.bridge, batch.target_ids, **inputs)
        return self.bridge(batch.target_ids, **inputs).example_loss

    def step(self, batch: Batch) -> float:
        with autocast(self.bf16):
            loss = self.example_losses(batch).sum() / batch.size
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def flops(self, batch: Batch) -> int:
        n_targets = sum(len(t) for t in batch.target_ids)
        return step_flops(self.dims, self.fusion, batch.enc_lengths, batch.llm_lengths, n_targets,
                          encoder_cached=self.cache is not None)["total"]


def fill_cache(cache: EncoderStateCache, batches: TrainingBatches) -> dict:
    """The first pass over the data: compute and keep every timed text's encoder states."""
    texts = list(dict.fromkeys(e.text for b in [batches.warmup, *batches.bucketed] for e in b.examples))
    start = time.perf_counter()
    for i in range(0, len(texts), 16):
        cache.states(texts[i : i + 16])
    seconds = time.perf_counter() - start
    return {"texts": len(texts), "seconds": seconds, "examples_per_s": len(texts) / seconds}


def trainer_arm(name: str, trainer: Trainer, timed: list[Batch], warmup: Batch) -> Arm:
    arm = Arm(name, run=lambda r: trainer.step(timed[r]), warmup=lambda: trainer.step(warmup))
    arm.trainer, arm.batches = trainer, timed
    return arm


def executed_flops(arm: Arm) -> dict:
    """One more step on the arm's first timed batch under FlopCounterMode: the matmul FLOPs the
    step really executes (padding, full logits and recomputation included) next to the useful count."""
    batch = arm.batches[0]
    with FlopCounterMode(display=False) as counter:
        arm.trainer.step(batch)
    return {"executed_gflop_first_batch": counter.get_total_flops() / 1e9,
            "useful_gflop_first_batch": arm.trainer.flops(batch) / 1e9}


def arm_throughput(arm: Arm, rounds: int) -> dict:
    """Examples/s, real tokens/s and useful FLOP/s of an arm over its timed steps."""
    batches, seconds = arm.batches[:rounds], sum(arm.seconds)
    return {
        "steps": rounds,
        "seconds": seconds,
        "median_step_s": sorted(arm.seconds)[len(arm.seconds) // 2],
        "examples_per_s": sum(b.size for b in batches) / seconds,
        "encoder_tokens_per_s": sum(sum(b.enc_lengths) for b in batches) / seconds,
        "llm_tokens_per_s": sum(sum(b.llm_lengths) for b in batches) / seconds,
        "useful_flops_per_s": sum(arm.trainer.flops(b) for b in batches) / seconds,
        "useful_gflop_per_step": sum(arm.trainer.flops(b) for b in batches) / rounds / 1e9,
    }


# ------------------------------------------------------------------------------ part: throughput
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def run_training(models, batches: TrainingBatches, rounds: int, precision: str = "bf16", log=print) -> dict:
    """Every fusion in fp32 and, when `precision` is bf16, in bf16 too (frozen models held in bf16,
    as the recipe does), encoder cache warm (filled by the models of `precision`), bucketed
    batches, side by side; the matmul peak (2048^2, in each precision measured) measured before
    every round of the same run. `models(precision)` gives the loaded models."""
    measured = precisions(precision)
    cache = EncoderStateCache(make_bridge(models(precision), "global_softmax"), dtype=cache_dtype(precision))
    fill = fill_cache(cache, batches)
    arms = [trainer_arm(f"{fusion} {p}", Trainer(models(p), fusion, bf16=p == "bf16", cache=cache),
                        batches.bucketed, batches.warmup)
            for fusion in FUSIONS for p in measured]
    peaks = {p: [] for p in measured}

    def measure_peaks(_round):
        for p in measured:
            peaks[p].append(matmul_peak(DTYPES[p], repeats=2))

    interleave(arms, rounds, between=measure_peaks, log=log)
    peak = {k: max(v) for k, v in peaks.items()}
    results = {}
    for arm in arms:
        fusion, p = arm.name.split()
        row = {**arm_throughput(arm, rounds), **executed_flops(arm)}
        row.update(fusion=fusion, precision=p, mfu=row["useful_flops_per_s"] / peak[p])  # against its own peak
        results[arm.name] = row
    return {"precision": precision, "arms": results, "matmul_peak_flops": peak, "matmul_peak_samples": peaks, "cache_fill": fill,
            "padding": batches.padding, "peak_rss_gb": peak_rss_gb()}


# ------------------------------------------------------------------------------ part: ablation
ALL_ON = "all on"


BF16_ONLY = ("frozen models held in fp32 (autocast casts them every step)", "bf16 off (fp32 models, no autocast)")


def ablation_specs(precision: str) -> list[tuple[str, dict]]:
    """(arm name, what it switches off) of the ablation whose base ("all on") computes in `precision`:
    the Trainer keywords (`models`: the precision whose loaded models it uses; `random`: the
    random batches). In fp32 the two bf16 arms (frozen models kept in fp32, bf16 off) are the
    base itself, so they are left out."""
    specs = [
        (ALL_ON, {}),
        ("encoder cache off", {"cache": None}),
        ("logits at all positions", {"full_logits": True}),
        ("bucketing off", {"random": True}),
        (BF16_ONLY[0], {"models": "fp32"}),
        (BF16_ONLY[1], {"models": "fp32", "bf16": False}),
        ("gate on padded positions", {"gate_on_padding": True}),
    ]
    return specs if precision == "bf16" else [(name, kw) for name, kw in specs if name not in BF16_ONLY]


def run_ablation(models, batches: TrainingBatches, rounds: int, precision: str = "bf16", log=print) -> dict:
    """token_softmax (the default fusion) in `precision` (bf16: with the frozen models held in
    bf16), cache, target-only logits, bucketing, gate on real tokens: all on, then each switched
    off alone; all measured side by side."""
    cache = EncoderStateCache(make_bridge(models(precision), "global_softmax"), dtype=cache_dtype(precision))
    fill_cache(cache, batches)

    def T(models_precision=precision, random=False, **kw):  # noqa: N802
        trainer = Trainer(models(models_precision), "token_softmax", **{"bf16": precision == "bf16", "cache": cache, **kw})
        return trainer, batches.random if random else batches.bucketed

    arms = []
    for name, kw in ablation_specs(precision):
        trainer, timed = T(kw.pop("models", precision), **kw)
        arms.append(trainer_arm(name, trainer, timed, batches.warmup))
    interleave(arms, rounds, log=log)
    base = sum(arms[0].seconds)
    rows = {arm.name: {**arm_throughput(arm, rounds), **executed_flops(arm), "time_ratio": sum(arm.seconds) / base}
            for arm in arms}
    return {"precision": precision, "arms": rows, "padding": batches.padding, "peak_rss_gb": peak_rss_gb()}
