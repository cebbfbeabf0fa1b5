"""What every fusion strategy shares: its config base class and the module contract.

A fusion turns the stacked hidden states of the encoder's layers into one vector per token.
Input  `states`: (B, S, L, D) float, the L selected encoder layers of each token.
Input  `mask`:   (B, S) bool/int, 1 on real tokens, 0 on padding.
Output `fused`:  (B, S, D), zero on padding.
Output `weights`:(B, S, L), the per-token layer weights (sum to 1 on real tokens, 0 on padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.registry import OptionsConfig


@dataclass
class FusionConfig(OptionsConfig):
    """Base of every fusion config: a plain dataclass that round-trips through JSON."""

    kind: ClassVar[str] = "fusion"
    reads_last_layer_only: ClassVar[bool] = False  # the bridge then selects (and caches) only that layer


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

    def penalty(self, entropy: torch.Tensor) -> torch.Tensor | None:
        """A regulariser per example (B,) from its mean per-token weight entropy, or None (none)."""
        return None


def weight_entropy(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each example's real tokens of the entropy of its layer weights, in nats: (B,).
    0 when every token reads one layer; log L for a uniform mix."""
    w = weights.float().clamp_min(1e-12)
    per_token = -(weights.float() * w.log()).sum(-1)  # (B, S)
    real = mask.to(per_token.dtype)
    return (per_token * real).sum(-1) / real.sum(-1).clamp_min(1.0)


def masked_weights(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the layer weights of padding tokens. weights (B, S, L), mask (B, S)."""
    return weights * mask.to(weights.dtype).unsqueeze(-1)
