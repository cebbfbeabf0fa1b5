"""Projectors map fused encoder states (D_enc) into the LLM's input-embedding space (D_llm)."""

from __future__ import annotations

from torch import nn

from layerbridge.errors import ConfigError


def build_projector(kind: str, encoder_size: int, llm_size: int) -> nn.Module:
    """`linear`: the paper's Linear(D_enc -> D_llm). `mlp`: D -> 2D -> ReLU -> D_llm (MindMerger)."""
    if kind == "linear":
        return nn.Linear(encoder_size, llm_size)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(encoder_size, 2 * encoder_size),
            nn.ReLU(),
            nn.Linear(2 * encoder_size, llm_size),
        )
    raise ConfigError(f"unknown projector {kind!r}; choose 'linear' or 'mlp'")
