"""Where a training step's time goes: torch.profiler over real steps (token_softmax, cache warm,
bucketed batches), by phase and by operator, and how fast a matmul can be at the LLM's own shapes."""

from __future__ import annotations

import re
import time

from torch.profiler import ProfilerActivity, profile

from benchmarks.common import peak_rss_gb, precisions
from benchmarks.flops import matmul_peak, matmul_rate
from benchmarks.training import DTYPES, RecipeArm, reset_precision, timed_examples

PHASE = "layerbridge: "  # the record_function markers of LayerBridge.forward and recipe.train_step
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


def profile_steps(ra: RecipeArm, steps: int, top: int) -> dict:
    """The recipe's steps 0..steps-1 without, then with, the profiler (its own overhead shows)."""
    ra.step(steps)  # warm-up: another batch
    start = time.perf_counter()
    for step in range(steps):
        ra.step(step)
    plain = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for step in range(steps):
            ra.step(step)
        wall = time.perf_counter() - start
    return {"steps": steps, "wall_s": wall, "unprofiled_wall_s": plain, **summarise(prof, wall * 1e6, top)}


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


def run_profile(models, task: str, batches, steps: int, top: int = 15, precision: str = "bf16", log=print) -> dict:
    """token_softmax profiled through the recipe in `precision` (and, when that is bf16, in fp32 too)."""
    import tempfile
    from pathlib import Path

    measured = precisions(precision)
    examples = timed_examples(batches)
    result = {"precision": precision}
    with tempfile.TemporaryDirectory() as tmp:
        for p in sorted(measured, key=lambda p: p != "bf16"):  # bf16 first, as before
            reset_precision()
            ra = RecipeArm(models(p), task, "token_softmax", examples, Path(tmp) / p, precision=p)
            ra.fill_cache()
            log(f"  profiling token_softmax {p}: {steps} step(s)")
            result[p] = profile_steps(ra, steps, top)
    median = sorted(batches.bucketed, key=lambda b: b.size * max(b.llm_lengths))[len(batches.bucketed) // 2]
    targets = sum(len(t) for t in median.target_ids)
    result["matmul_at_llm_shapes"] = llm_shape_rates(ra.run.bridge, median.size * max(median.llm_lengths), targets,
                                                     measured)
    result["peak_rss_gb"] = peak_rss_gb()
    return result
