"""`last`: the LangBridge baseline. The fused state is the encoder's last selected layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from layerbridge.fusion.base import Fusion, FusionConfig, masked_weights


@dataclass
class LastLayerConfig(FusionConfig):
    name: ClassVar[str] = "last"
    reads_last_layer_only: ClassVar[bool] = True


class LastLayerFusion(Fusion):
    """No parameters: a one-hot weight on the last layer, kept for uniform inspection."""

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = states[:, :, -1, :] * mask.to(states.dtype).unsqueeze(-1)  # (B, S, D)
        return fused, self.layer_weights(states, mask)

    def layer_weights(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, S, L, _ = states.shape
        weights = torch.zeros(B, S, L, dtype=torch.float32, device=states.device)
        weights[:, :, -1] = 1.0
        return masked_weights(weights, mask)
