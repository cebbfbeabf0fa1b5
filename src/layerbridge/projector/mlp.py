"""`mlp`: D_enc -> 2 D_enc -> ReLU -> D_llm (MindMerger's mapping), one soft token per encoder token.
Option `pooled=k`: k pooled sentence tokens before the per-token ones (projector/pooled.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.projector.base import Projector
from layerbridge.projector.pooled import PooledOption, add_pooled_tokens, pooled_first


@dataclass
class MLPConfig(PooledOption):
    name: ClassVar[str] = "mlp"


class MLPProjector(Projector, nn.Sequential):
    """An nn.Sequential (state-dict keys `0.weight`, `0.bias`, `2.weight`, `2.bias`):
    (B, S, D_enc) -> (B, S, 2 D_enc) -> ReLU -> (B, S, D_llm). With pooled=k also `pooled.weight`,
    `pooled.bias`: (fused, mask) -> (B, k + S, D_llm), (B, k + S)."""

    def __init__(self, config: MLPConfig, in_dim: int, out_dim: int):
        nn.Sequential.__init__(self, nn.Linear(in_dim, 2 * in_dim), nn.ReLU(), nn.Linear(2 * in_dim, out_dim))
        self.config = config
        add_pooled_tokens(self, in_dim, out_dim)  # after the layers: `self[0..2]` stay the mapping

    def forward(self, fused: torch.Tensor, mask: torch.Tensor | None = None):
        per_token = self[2](self[1](self[0](fused)))  # (B, S, D_llm); Sequential's loop would run `pooled` too
        return per_token if self.pooled is None else pooled_first(self.pooled, fused, mask, per_token)
