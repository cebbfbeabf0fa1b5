"""Projectors map fused encoder states (D_enc) into the LLM's input-embedding space (D_llm):
token by token (`linear`, `mlp`), or compressed into K soft tokens (`perceiver`, bridge.perceiver)."""

from __future__ import annotations

from typing import Any

from torch import nn

from layerbridge.bridge.perceiver import PerceiverConfig, PerceiverProjector
from layerbridge.errors import ConfigError

PROJECTORS = ("linear", "mlp", "perceiver")

PROJECTOR_INITS = ("default", "identity", "lexical")


def check_projector(kind: str, options: dict[str, Any] | None) -> None:
    """Validate a projector's name and options (only `perceiver` has options)."""
    if kind not in PROJECTORS:
        raise ConfigError(f"projector must be one of {PROJECTORS}, got {kind!r}")
    if kind == "perceiver":
        PerceiverConfig.from_dict(dict(options or {}))
    elif options:
        raise ConfigError(f"projector {kind!r} takes no options (got {sorted(options)}); only 'perceiver' has some")


def build_projector(kind: str, encoder_size: int, llm_size: int, init: str = "default",
                    options: dict[str, Any] | None = None) -> nn.Module:
    """`linear`: the paper's Linear(D_enc -> D_llm). `mlp`: D -> 2D -> ReLU -> D_llm (MindMerger).
    `perceiver`: K latent queries cross-attending to the fused states (LangBridge), `options` its
    PerceiverConfig.
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
    if kind == "perceiver":
        return PerceiverProjector(PerceiverConfig.from_dict(dict(options or {})), encoder_size, llm_size)
    raise ConfigError(f"unknown projector {kind!r}; choose one of {PROJECTORS}")
