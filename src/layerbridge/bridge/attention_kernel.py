"""Which scaled-dot-product-attention kernel the frozen LLM uses while a bridge trains through it.

On CPU in bf16, torch's default SDPA kernel (flash attention for CPU) has a slow backward: 29% of a
training step on a 2-core AMX Xeon, where the attention core costs 6% of an fp32 step. The math
kernel (matmul + softmax, each with its ordinary backward) trains faster there
(benchmarks/training.py measures both), but keeps every layer's attention probabilities
(B, heads, T, T) in float32 for the backward, where flash keeps one number per row. So it is chosen
only for CPU bf16 training steps whose probabilities fit MATH_BUDGET_BYTES. Inference keeps the default: flash is
faster without a backward, and uses no memory for probabilities. Under gradient checkpointing a
layer keeps nothing between its forward and its recomputation, so the budget is one layer's, and the
recomputation runs with the kernel the forward ran with (`same_kernel_on_recompute`).
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

MATH_BUDGET_BYTES = 1 << 30  # all layers' float32 attention probabilities of one micro-batch


def attention_probs_bytes(batch: int, length: int, heads: int, layers: int) -> int:
    """What the math kernel keeps for the backward: float32 (B, heads, T, T) per layer."""
    return 4 * batch * heads * length * length * layers


def computes_in_bf16(x: torch.Tensor) -> bool:
    return x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def prefers_math(embeds: torch.Tensor, llm_config, checkpointed: bool) -> bool:
    """The math kernel for this LLM call: a CPU bf16 call with gradients whose attention
    probabilities fit the budget (one layer's when `checkpointed`). embeds: the LLM's input (B, T, H)."""
    if not torch.is_grad_enabled() or embeds.device.type != "cpu" or not computes_in_bf16(embeds):
        return False
    text_config = llm_config.get_text_config() if hasattr(llm_config, "get_text_config") else llm_config
    B, T = embeds.shape[:2]
    layers = 1 if checkpointed else text_config.num_hidden_layers
    return attention_probs_bytes(B, T, text_config.num_attention_heads, layers) <= MATH_BUDGET_BYTES


def training_attention(embeds: torch.Tensor, llm_config, checkpointed: bool):
    """Context for one LLM call: the math SDPA kernel where `prefers_math`, else torch's choice."""
    return sdpa_kernel(SDPBackend.MATH) if prefers_math(embeds, llm_config, checkpointed) else contextlib.nullcontext()


def enabled_kernels() -> list[SDPBackend]:
    """The SDPA kernels torch may choose from right now (sdpa_kernel sets these flags, CPU included)."""
    flags = {SDPBackend.FLASH_ATTENTION: torch.backends.cuda.flash_sdp_enabled,
             SDPBackend.EFFICIENT_ATTENTION: torch.backends.cuda.mem_efficient_sdp_enabled,
             SDPBackend.MATH: torch.backends.cuda.math_sdp_enabled,
             SDPBackend.CUDNN_ATTENTION: torch.backends.cuda.cudnn_sdp_enabled}
    return [kernel for kernel, enabled in flags.items() if enabled()]


def same_kernel_on_recompute():
    """`context_fn` of torch.utils.checkpoint (non-reentrant): the backward recomputes a layer with
    the SDPA kernels its forward had, not those in force when the backward runs."""
    return contextlib.nullcontext(), sdpa_kernel(enabled_kernels())
