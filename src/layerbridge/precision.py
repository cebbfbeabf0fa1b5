"""Which precision to compute in: bf16 autocast where the hardware has native bf16, else fp32."""

from __future__ import annotations

import torch

CHOICES = ("auto", "no", "bf16")


def native_bf16() -> bool:
    """A GPU with bf16, or a CPU with native bf16 instructions (AVX512-BF16 / AMX)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def resolve(mixed_precision: str) -> str:
    """"auto" -> "bf16" with native support, else "no"; other values pass through."""
    if mixed_precision == "auto":
        return "bf16" if native_bf16() else "no"
    return mixed_precision


def label(mixed_precision: str) -> str:
    """What a run computes in, for people: "bf16" or "fp32" (accelerate calls plain fp32 "no")."""
    return "bf16" if resolve(mixed_precision) == "bf16" else "fp32"


def frozen_dtype(mixed_precision: str) -> torch.dtype:
    """The dtype to hold the frozen encoder and LLM in: bf16 under bf16 autocast (half the memory,
    and no re-casting of their weights at every step), else float32."""
    return torch.bfloat16 if resolve(mixed_precision) == "bf16" else torch.float32


def cache_dtype(mixed_precision: str) -> torch.dtype:
    """The dtype encoder states are cached in. bf16 under bf16 autocast: the fusion reads them in
    bf16 anyway, and bf16 has float32's range. Otherwise float32: the states a run trains on are
    exactly those it is evaluated on. Never fp16: T5-family encoders produce hidden states beyond
    its 65504 (transformers clamps them in its T5 code for that reason); cached, they became inf."""
    return torch.bfloat16 if resolve(mixed_precision) == "bf16" else torch.float32
