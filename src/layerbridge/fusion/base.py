"""What every fusion strategy shares: its config base class and the module contract.

A fusion turns the stacked hidden states of the encoder's layers into one vector per token.
Input  `states`: (B, S, L, D) float, the L selected encoder layers of each token.
Input  `mask`:   (B, S) bool/int, 1 on real tokens, 0 on padding.
Output `fused`:  (B, S, D), zero on padding.
Output `weights`:(B, S, L), the per-token layer weights (sum to 1 on real tokens, 0 on padding).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from layerbridge.errors import ConfigError


@dataclass
class FusionConfig:
    """Base of every fusion config: a plain dataclass that round-trips through JSON."""

    name: ClassVar[str] = ""
    reads_last_layer_only: ClassVar[bool] = False  # the bridge then selects (and caches) only that layer

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FusionConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"fusion '{cls.name}' has no option(s) {unknown}; known options: {sorted(known)}"
            )
        return cls(**values)


class Fusion(nn.Module):
    """Base module: subclasses implement `layer_logits` or override `forward`."""

    def __init__(self, config: FusionConfig, num_layers: int, hidden_size: int):
        super().__init__()
        self.config = config
        self.num_layers = num_layers
        self.hidden_size = hidden_size

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = self.layer_weights(states, mask)  # (B, S, L)
        fused = torch.einsum("bsl,bsld->bsd", weights.to(states.dtype), states)  # (B, S, D)
        return fused, weights

    def layer_weights(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def masked_weights(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the layer weights of padding tokens. weights (B, S, L), mask (B, S)."""
    return weights * mask.to(weights.dtype).unsqueeze(-1)
