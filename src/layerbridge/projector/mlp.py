"""`mlp`: D_enc -> 2 D_enc -> ReLU -> D_llm (MindMerger's mapping), one soft token per encoder token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from layerbridge.projector.base import Projector, ProjectorConfig


@dataclass
class MLPConfig(ProjectorConfig):
    name: ClassVar[str] = "mlp"


class MLPProjector(Projector, nn.Sequential):
    """An nn.Sequential (state-dict keys `0.weight`, `0.bias`, `2.weight`, `2.bias`):
    (B, S, D_enc) -> (B, S, 2 D_enc) -> ReLU -> (B, S, D_llm)."""

    def __init__(self, config: MLPConfig, in_dim: int, out_dim: int):
        nn.Sequential.__init__(self, nn.Linear(in_dim, 2 * in_dim), nn.ReLU(), nn.Linear(2 * in_dim, out_dim))
        self.config = config
