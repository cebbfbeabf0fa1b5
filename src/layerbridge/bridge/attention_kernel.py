"""Which scaled-dot-product-attention kernel the LLM call uses while a bridge trains through it.

On CPU in bf16, torch's default SDPA kernel (flash attention for CPU) has a slow backward: the
benchmark's ablation (benchmarks/training.py, the "torch's default kernel" arm) prices it against
the math kernel (matmul + softmax, each with its ordinary backward). The math kernel computes in
float32 and keeps, per layer, the attention probabilities (B, heads, T, T) and float32 copies of
q, k and v (k and v expanded to every query head) for the backward, where flash keeps one number
per row. So it is chosen only for CPU bf16 training steps whose kept tensors fit MATH_BUDGET_BYTES
(`math_kernel_bytes`). Inference keeps the default: flash is faster without a backward. Every SDPA
call inside the LLM call takes the kernel, the cross-attention injection's included (its keys are
the encoder's S positions, fewer than the LLM's T: inside the estimate's margin).

Under gradient checkpointing a layer keeps nothing between its forward and its recomputation, so
the budget is one layer's, and the recomputation runs with the kernels its forward had
(`SameKernelOnRecompute`, torch.utils.checkpoint's `context_fn`).
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, _cur_sdpa_kernel_backends, sdpa_kernel

MATH_BUDGET_BYTES = 1 << 30  # what the math kernel may keep for one micro-batch's backward


def math_kernel_bytes(batch: int, length: int, heads: int, head_dim: int, layers: int) -> int:
    """What the math kernel holds for the backward of `layers` layers, plus one layer's working
    copies (scores and their gradient): float32 probabilities (B, heads, T, T) and q, k, v
    (B, heads, T, d) per layer."""
    per_head_row = (length + 3 * head_dim) * layers + 2 * length
    return 4 * batch * heads * length * per_head_row


def computes_in_bf16(x: torch.Tensor) -> bool:
    """The LLM call computes in bf16: its input is bf16, or CPU autocast casts to bf16."""
    return x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def attention_dims(llm_config) -> tuple[int, int, int] | None:
    """(query heads, head size, layers) of the LLM, or None where its config does not say."""
    config = llm_config.get_text_config() if hasattr(llm_config, "get_text_config") else llm_config
    heads, layers = getattr(config, "num_attention_heads", None), getattr(config, "num_hidden_layers", None)
    hidden = getattr(config, "hidden_size", None)
    if not heads or not layers:
        return None
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if hidden else None)
    return (heads, head_dim, layers) if head_dim else None


def prefers_math(embeds: torch.Tensor, llm_config, checkpointed: bool) -> bool:
    """The math kernel for this LLM call: a CPU bf16 call that trains (its input needs a gradient)
    and whose kept tensors fit the budget (one layer's when `checkpointed`). embeds: (B, T, H)."""
    if not (torch.is_grad_enabled() and embeds.requires_grad) or embeds.device.type != "cpu":
        return False
    dims = attention_dims(llm_config)
    if dims is None or not computes_in_bf16(embeds):
        return False
    heads, head_dim, layers = dims
    B, T = embeds.shape[:2]
    return math_kernel_bytes(B, T, heads, head_dim, 1 if checkpointed else layers) <= MATH_BUDGET_BYTES


def training_attention(embeds: torch.Tensor, llm_config, checkpointed: bool):
    """Context for one LLM call: the math SDPA kernel where `prefers_math`, else torch's choice."""
    return sdpa_kernel(SDPBackend.MATH) if prefers_math(embeds, llm_config, checkpointed) else contextlib.nullcontext()


def enabled_kernels() -> list[SDPBackend]:
    """The SDPA kernels torch may choose from right now (sdpa_kernel's flags, CPU included)."""
    return _cur_sdpa_kernel_backends()


class SameKernelOnRecompute:
    """Entered at each recomputation of a checkpointed layer (a graph kept with `retain_graph`
    recomputes more than once): the SDPA kernels of the forward that created it."""

    def __init__(self, kernels: list[SDPBackend]):
        self.kernels, self.entered = kernels, []

    def __enter__(self):
        self.entered.append(sdpa_kernel(self.kernels))
        return self.entered[-1].__enter__()

    def __exit__(self, *exc):
        return self.entered.pop().__exit__(*exc)


def same_kernel_on_recompute():
    """`context_fn` of torch.utils.checkpoint (non-reentrant), called at each checkpointed forward:
    nothing around the forward, the forward's kernels around every recomputation."""
    return contextlib.nullcontext(), SameKernelOnRecompute(enabled_kernels())
