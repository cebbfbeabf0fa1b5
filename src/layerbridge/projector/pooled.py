"""The pooled sentence token: the mask-aware mean of the fused states, projected to k soft tokens.

    fused (B, S, D), mask (B, S) -> mean over real tokens (B, D), in float32
                                 -> Linear(D -> k H) -> k soft tokens (B, k, H)

For multilingual-E5 with the `last` fusion this mean is the encoder's own sentence embedding (the
one its training made language-independent, and the one the logistic-regression probe reads); with
another fusion it is the mean of the fusion's mix. Two ways to give it to the LLM:

- `--projector-option pooled=k` on `linear` or `mlp`: k pooled tokens first, then the per-token
  soft tokens, the pooled ones through their own Linear (state-dict keys `pooled.weight`,
  `pooled.bias` beside the projector's own, which do not change; pooled=0, the default, adds nothing).
- `--projector pooled` (`--projector-option pooled=k`, default 1): the extreme, the LLM reads only the
  k pooled tokens, no per-token state; it tells how much the token states add.

Padding is ignored (a text alone gives what it gives inside a padded batch), and the mean is summed
in float32 whatever the states' dtype or autocast; the Linear then runs as the projector's own do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.errors import ConfigError
from layerbridge.projector.base import Projector, ProjectorConfig


def check_pooled(projector: str, pooled, minimum: int) -> None:
    """`pooled` (the number of pooled tokens) must be an integer >= minimum."""
    if isinstance(pooled, bool) or not isinstance(pooled, int) or pooled < minimum:
        raise ConfigError(f"{projector}: pooled must be an integer >= {minimum} (pooled soft tokens), got {pooled!r}")


def masked_mean(fused: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of `fused` (B, S, D) over the real tokens of `mask` (B, S): (B, D) in float32."""
    weights = mask.to(torch.float32).unsqueeze(-1)  # (B, S, 1)
    total = (fused.to(torch.float32) * weights).sum(dim=1)  # (B, D)
    return total / weights.sum(dim=1).clamp_min(1.0)


class PooledTokens(nn.Linear):
    """Linear(D -> k H) on the masked mean: (fused (B, S, D), mask (B, S)) -> (B, k, H)."""

    def __init__(self, in_dim: int, out_dim: int, tokens: int):
        super().__init__(in_dim, tokens * out_dim)
        self.tokens, self.out_dim = tokens, out_dim

    def forward(self, fused: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean = masked_mean(fused, mask).to(fused.dtype)  # (B, D)
        return super().forward(mean).view(fused.shape[0], self.tokens, self.out_dim)  # (B, k, H)


def pooled_first(pooled: PooledTokens, fused: torch.Tensor, mask: torch.Tensor, per_token: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The k pooled tokens, then the per-token ones (B, S, H): (soft (B, k + S, H), mask (B, k + S))."""
    head = pooled(fused, mask)  # (B, k, H)
    soft = torch.cat([head.to(per_token.dtype), per_token], dim=1)
    ones = torch.ones(head.shape[:2], dtype=mask.dtype, device=mask.device)
    return soft, torch.cat([ones, mask], dim=1)


@dataclass
class PooledOption(ProjectorConfig):
    """The `pooled` option of a per-token projector (linear, mlp): 0 (default) adds nothing."""

    pooled: int = 0  # k pooled soft tokens read before the per-token ones

    def __post_init__(self):
        check_pooled(self.name, self.pooled, 0)


def add_pooled_tokens(projector: Projector, in_dim: int, out_dim: int) -> None:
    """Give a per-token projector its pooled tokens (`projector.pooled`) when its config asks for
    some; it then compresses (takes the mask, returns its soft tokens' mask). Nothing otherwise."""
    k = projector.config.pooled
    projector.pooled = PooledTokens(in_dim, out_dim, k) if k else None
    projector.compresses = bool(k)


@dataclass
class PooledConfig(ProjectorConfig):
    name: ClassVar[str] = "pooled"
    pooled: int = 1  # k: soft tokens the LLM reads per text, all from the sentence embedding

    def __post_init__(self):
        check_pooled("pooled", self.pooled, 1)


class PooledProjector(Projector):
    """(fused (B, S, D), mask (B, S)) -> (k soft tokens (B, k, H), their mask (B, k), all ones): the
    LLM reads the sentence embedding only. State-dict keys `pooled.weight` (k H, D), `pooled.bias`."""

    compresses: ClassVar[bool] = True

    def __init__(self, config: PooledConfig, in_dim: int, out_dim: int):
        super().__init__()
        self.config = config
        self.pooled = PooledTokens(in_dim, out_dim, config.pooled)

    def forward(self, fused: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        soft = self.pooled(fused, mask)  # (B, k, H)
        return soft, torch.ones(soft.shape[:2], dtype=mask.dtype, device=mask.device)
