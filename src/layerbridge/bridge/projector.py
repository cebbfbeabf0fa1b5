"""Projectors map fused encoder states (D_enc) into the LLM's input-embedding space (D_llm)."""

from __future__ import annotations

from torch import nn

from layerbridge.errors import ConfigError

PROJECTOR_INITS = ("default", "identity", "lexical")


def build_projector(kind: str, encoder_size: int, llm_size: int, init: str = "default") -> nn.Module:
    """`linear`: the paper's Linear(D_enc -> D_llm). `mlp`: D -> 2D -> ReLU -> D_llm (MindMerger).
    init="identity" starts a linear projector as the identity (needs D_enc == D_llm): the
    LLM-alone baseline then starts from the LLM reading its own embeddings. init="lexical" is fitted
    later, on English text, by `bridge.lexical_init` (linear projectors only)."""
    if init not in PROJECTOR_INITS:
        raise ConfigError(f"projector_init must be one of {PROJECTOR_INITS}, got {init!r}")
    if init == "lexical" and kind != "linear":
        raise ConfigError("projector_init='lexical' fits a linear projector; use --projector linear")
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
