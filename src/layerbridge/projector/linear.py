"""`linear`: the paper's projector, Linear(D_enc -> D_llm), one soft token per encoder token.

Its starts (projector_init): "default" (torch's), "identity" (needs D_enc == D_llm: the LLM-alone
baseline then starts from the LLM reading its own embeddings), "lexical" (fitted after the bridge
is built, on English text, by `bridge.lexical_init`; nothing to do here). Option `pooled=k`: k
pooled sentence tokens before the per-token ones (projector/pooled.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.errors import ConfigError
from layerbridge.projector.base import Projector
from layerbridge.projector.pooled import PooledOption, add_pooled_tokens, pooled_first


@dataclass
class LinearConfig(PooledOption):
    name: ClassVar[str] = "linear"


class LinearProjector(Projector, nn.Linear):
    """An nn.Linear (state-dict keys `weight` (D_llm, D_enc), `bias` (D_llm,)): (B, S, D_enc) -> (B, S, D_llm).
    With pooled=k also `pooled.weight`, `pooled.bias`: (fused, mask) -> (B, k + S, D_llm), (B, k + S)."""

    inits: ClassVar[tuple[str, ...]] = ("default", "identity", "lexical")

    def __init__(self, config: LinearConfig, in_dim: int, out_dim: int):
        nn.Linear.__init__(self, in_dim, out_dim)
        self.config = config
        add_pooled_tokens(self, in_dim, out_dim)

    def forward(self, fused: torch.Tensor, mask: torch.Tensor | None = None):
        per_token = nn.Linear.forward(self, fused)  # (B, S, D_llm)
        return per_token if self.pooled is None else pooled_first(self.pooled, fused, mask, per_token)

    def apply_init(self, init: str) -> None:
        if init == "identity":
            if self.in_features != self.out_features:
                raise ConfigError(f"projector_init='identity' needs a linear projector with equal sizes "
                                  f"(got linear, {self.in_features} -> {self.out_features})")
            nn.init.eye_(self.weight)
            nn.init.zeros_(self.bias)
