"""`global_softmax`: one learned scalar per layer, shared by every token.

fused_t = sum_l softmax(tau * w)_l * h_{l,t}. As in the authors' code the logits w are multiplied
by a large temperature tau (100 by default, plus a learned increment when `learn_temperature`),
so that the weights move at the small learning rate used for the rest of the bridge. The paper
starts from uniform weights (`init="uniform"`); `init="last"` starts at the last-layer solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.errors import ConfigError
from layerbridge.fusion.base import Fusion, FusionConfig, masked_weights


@dataclass
class GlobalSoftmaxConfig(FusionConfig):
    name: ClassVar[str] = "global_softmax"
    init: str = "uniform"  # "uniform" (paper) | "last": softmax puts ~all weight on the last layer
    temperature: float = 100.0  # logits are multiplied by this (authors' code)
    learn_temperature: bool = True  # add a learned increment to the temperature (authors' code)
    last_layer_logit: float = 10.0  # with init="last": tau*w_L - tau*w_other at step 0

    def __post_init__(self):
        if self.init not in ("uniform", "last"):
            raise ConfigError(f"global_softmax: init must be 'uniform' or 'last', got {self.init!r}")
        if self.temperature <= 0:
            raise ConfigError(f"global_softmax: temperature must be > 0, got {self.temperature}")


class GlobalSoftmaxFusion(Fusion):
    def __init__(self, config: GlobalSoftmaxConfig, num_layers: int, hidden_size: int):
        super().__init__(config, num_layers, hidden_size)
        logits = torch.zeros(num_layers)
        if config.init == "last":
            logits[-1] = config.last_layer_logit / config.temperature
        self.logits = nn.Parameter(logits)  # (L,)
        self.temperature_delta = nn.Parameter(torch.zeros(()), requires_grad=config.learn_temperature)

    def global_weights(self) -> torch.Tensor:
        """The L layer weights, shared by all tokens. (L,)"""
        tau = self.config.temperature + self.temperature_delta
        return torch.softmax(self.logits.float() * tau, dim=-1)

    def layer_weights(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, S, L, _ = states.shape
        weights = self.global_weights().expand(B, S, L)  # (B, S, L)
        return masked_weights(weights, mask)
