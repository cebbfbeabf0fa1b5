"""Projectors map fused encoder states (D_enc) into the LLM's input-embedding space (D_llm)."""

from __future__ import annotations

from torch import nn

from layerbridge.errors import ConfigError


def build_projector(kind: str, encoder_size: int, llm_size: int, init: str = "default") -> nn.Module:
    """`linear`: the paper's Linear(D_enc -> D_llm). `mlp`: D -> 2D -> ReLU -> D_llm (MindMerger).
    init="identity" starts a linear projector as the identity (needs D_enc == D_llm): the
    LLM-alone baseline then starts from the LLM reading its own embeddings."""
    if init not in ("default", "identity"):
        raise ConfigError(f"projector_init must be 'default' or 'identity', got {init!r}")
    if init == "identity" and (kind != "linear" or encoder_size != llm_size):
        raise ConfigError(f"projector_init='identity' needs a linear projector with equal sizes "
                          f"(got {kind}, {encoder_size} -> {llm_size})")
    if kind == "linear":
        layer = nn.Linear(encoder_size, llm_size)
        if init == "identity":
            nn.init.eye_(layer.weight)
            nn.init.zeros_(layer.bias)
        return layer
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(encoder_size, 2 * encoder_size),
            nn.ReLU(),
            nn.Linear(2 * encoder_size, llm_size),
        )
    raise ConfigError(f"unknown projector {kind!r}; choose 'linear' or 'mlp'")
