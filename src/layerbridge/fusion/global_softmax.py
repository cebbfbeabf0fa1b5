"""`global_softmax`: one learned scalar per layer, shared by every token.

fused_t = sum_l softmax(z)_l * h_{l,t}, with the layer logits z parameterised one of two ways:

- `parameterisation="paper"` (the authors' code, the default): z = tau * w, tau = 100 (plus a
  learned increment when `learn_temperature`), "so that the weights move at the small learning
  rate". Under Adam a step moves w by about the learning rate whatever the gradient's scale, so
  z moves tau times faster than the rest of the bridge (0.3 per step at lr 3e-3), and the learned
  increment gets exactly zero gradient while w is uniform.
- `parameterisation="plain"`: z = w, no temperature: the logits move at the fusion's own learning
  rate (`--fusion-lr`), chosen on purpose.

The paper starts from uniform weights (`init="uniform"`); `init="last"` starts at the last-layer
solution (z_L - z_other = `last_layer_logit`).
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
    last_layer_logit: float = 10.0  # with init="last": z_L - z_other at step 0
    parameterisation: str = "paper"  # "paper": z = tau * w | "plain": z = w (see the module docstring)

    def __post_init__(self):
        if self.parameterisation not in ("paper", "plain"):
            raise ConfigError(f"global_softmax: parameterisation must be 'paper' or 'plain', got {self.parameterisation!r}")
        if self.init not in ("uniform", "last"):
            raise ConfigError(f"global_softmax: init must be 'uniform' or 'last', got {self.init!r}")
        if self.temperature <= 0:
            raise ConfigError(f"global_softmax: temperature must be > 0, got {self.temperature}")


class GlobalSoftmaxFusion(Fusion):
    def __init__(self, config: GlobalSoftmaxConfig, num_layers: int, hidden_size: int):
        super().__init__(config, num_layers, hidden_size)
        self.scaled = config.parameterisation == "paper"
        logits = torch.zeros(num_layers)
        if config.init == "last":
            logits[-1] = config.last_layer_logit / (config.temperature if self.scaled else 1.0)
        self.logits = nn.Parameter(logits)  # (L,)
        if config.learn_temperature and self.scaled:
            self.temperature_delta = nn.Parameter(torch.zeros(()))
        else:  # fixed at 0: a buffer (a frozen parameter would be left out of the gathered, saved weights)
            self.register_buffer("temperature_delta", torch.zeros(()))

    def layer_logits(self) -> torch.Tensor:
        """z, what the softmax over layers reads: tau * w ("paper") or w ("plain"). (L,)"""
        if not self.scaled:
            return self.logits.float()
        return self.logits.float() * (self.config.temperature + self.temperature_delta)

    def global_weights(self) -> torch.Tensor:
        """The L layer weights, shared by all tokens. (L,)"""
        return torch.softmax(self.layer_logits(), dim=-1)

    def layer_weights(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, S, L, _ = states.shape
        weights = self.global_weights().expand(B, S, L)  # (B, S, L)
        return masked_weights(weights, mask)
