"""Where a training step's time goes: torch.profiler over real steps (token_softmax, cache warm,
bucketed batches), by phase and by operator, and how fast a matmul can be at the LLM's own shapes."""

from __future__ import annotations

import re
import time

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from layerbridge.encoder_cache import EncoderStateCache
from layerbridge.precision import cache_dtype

from benchmarks.common import autocast, make_bridge, peak_rss_gb, precisions
from benchmarks.flops import matmul_peak, matmul_rate
from benchmarks.training import DTYPES, Trainer, fill_cache

PHASE = "phase: "
CATEGORIES = [  # (category, regex on the operator name), first match wins
    ("matmul (mm, addmm, bmm)", r"^aten::(mm|addmm|bmm|baddbmm)$"),
    ("attention core (sdpa)", r"scaled_dot_product|_flash_attention|_efficient_attention"),
    ("copies, casts, concatenation", r"^aten::(copy_|_to_copy|to|clone|contiguous|cat|stack|constant_pad_nd|fill_|zero_|zeros|empty|empty_like|new_zeros|resize_|as_strided_|_unsafe_view|expand|repeat_interleave)$"),
    ("indexing (gather / scatter)", r"^aten::(index|index_put_|_index_put_impl_|index_add|index_add_|index_select|embedding|embedding_dense_backward|masked_fill_|gather|scatter_)"),
    ("optimiser (AdamW), clipping", r"adamw|_foreach|_fused|norm$|clip"),
    ("element-wise, norms, softmax", r"^aten::"),
    ("autograd bookkeeping", r"^autograd::|Backward"),
]


def category(name: str) -> str:
    for label, pattern in CATEGORIES:
        if re.search(pattern, name):
            return label
    return "other"


def profiled_step(trainer: Trainer, batch) -> None:
    """One optimiser step, the forward split into the phases of LayerBridge.forward."""
    bridge, texts = trainer.bridge, [e.text for e in batch.examples]
    with autocast(trainer.bf16):
        with record_function(PHASE + "encoder cache gather"):
            states, mask = trainer.cache.states(texts)
        with record_function(PHASE + "fusion + projector"):
            soft, _ = bridge.soft_tokens(states, mask)
        with record_function(PHASE + "assemble LLM input"):
            inputs = bridge.llm_inputs(soft, mask, batch.target_ids)
        with record_function(PHASE + "LLM forward + target logits"):
            nll = -bridge.target_log_probs(inputs)
            sums = torch.zeros(batch.size).index_add(0, inputs.target_rows, nll.float())
            counts = torch.tensor([len(t) for t in batch.target_ids], dtype=sums.dtype)
            loss = (sums / counts).sum() / batch.size
    with record_function(PHASE + "backward"):
        loss.backward()
    with record_function(PHASE + "optimiser step"):
        torch.nn.utils.clip_grad_norm_(trainer.params, 1.0)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)


def summarise(prof, wall_us: float, top: int) -> dict:
    events = prof.key_averages()
    phases = {e.key[len(PHASE):]: e.cpu_time_total / wall_us for e in events if e.key.startswith(PHASE)}
    ops = [e for e in events if not e.key.startswith(PHASE)]
    ops.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    by_category: dict[str, float] = {}
    for e in ops:
        by_category[category(e.key)] = by_category.get(category(e.key), 0.0) + e.self_cpu_time_total / wall_us
    python = sum(e.self_cpu_time_total for e in events if e.key.startswith(PHASE)) / wall_us
    by_category["outside operators (Python, framework)"] = python
    return {
        "phases": phases,
        "categories": dict(sorted(by_category.items(), key=lambda kv: -kv[1])),
        "top_ops": [{"op": e.key, "share": e.self_cpu_time_total / wall_us, "calls": e.count} for e in ops[:top]],
    }


def profile_steps(trainer: Trainer, batches, warmup, top: int) -> dict:
    trainer.step(warmup)
    start = time.perf_counter()
    for batch in batches:  # the same steps without the profiler: its own overhead
        trainer.step(batch)
    plain = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for batch in batches:
            profiled_step(trainer, batch)
        wall = time.perf_counter() - start
    return {"steps": len(batches), "wall_s": wall, "unprofiled_wall_s": plain, **summarise(prof, wall * 1e6, top)}


def llm_shape_rates(bridge, rows: int, targets: int, measured=("fp32", "bf16")) -> dict:
    """Matmul FLOP/s at the LLM's projection shapes for `rows` (= padded B x T) positions and the
    LM head at `targets` positions, next to the 2048^2 peak measured at the same moment, in each
    precision of `measured`."""
    cfg = bridge.llm.config
    H, I = cfg.hidden_size, cfg.intermediate_size
    kv = cfg.num_key_value_heads * (getattr(cfg, "head_dim", None) or H // cfg.num_attention_heads)
    shapes = {"q/o": (rows, H, H), "k/v": (rows, H, kv), "gate/up": (rows, H, I), "down": (rows, I, H),
              "lm head at targets": (targets, H, cfg.vocab_size)}
    out = {}
    for name in measured:
        dtype = DTYPES[name]
        peak = matmul_peak(dtype)
        rates = {shape: matmul_rate(*dims, dtype, repeats=5) for shape, dims in shapes.items()}
        work = {shape: 2 * m * k * n for shape, (m, k, n) in shapes.items() if shape != "lm head at targets"}
        layer_time = sum(work[s] / rates[s] for s in work)  # one LLM layer's projections, at these rates
        out[name] = {"peak": peak, "rates": rates, "llm_layer_rate": sum(work.values()) / layer_time}
    return {"rows": rows, **out}


def run_profile(models, batches, steps: int, top: int = 15, precision: str = "bf16", log=print) -> dict:
    """token_softmax profiled in `precision` (and, when that is bf16, in fp32 too)."""
    measured = precisions(precision)
    cache = EncoderStateCache(make_bridge(models(precision), "global_softmax"), dtype=cache_dtype(precision))
    fill_cache(cache, batches)
    timed = batches.bucketed[:steps]
    result = {"precision": precision}
    for p in sorted(measured, key=lambda p: p != "bf16"):  # bf16 first, as before
        trainer = Trainer(models(p), "token_softmax", bf16=p == "bf16", cache=cache)
        log(f"  profiling token_softmax {p}: {steps} step(s)")
        result[p] = profile_steps(trainer, timed, batches.warmup, top)
    median = sorted(batches.bucketed, key=lambda b: b.size * max(b.llm_lengths))[len(batches.bucketed) // 2]
    targets = sum(len(t) for t in median.target_ids)
    result["matmul_at_llm_shapes"] = llm_shape_rates(trainer.bridge, median.size * max(median.llm_lengths), targets,
                                                     measured)
    result["peak_rss_gb"] = peak_rss_gb()
    return result
