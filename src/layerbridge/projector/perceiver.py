"""`perceiver`: LangBridge's alternative alignment: K learned latent queries
cross-attend to the fused encoder states, so the LLM reads K soft tokens per text instead of one
per encoder token; for long inputs (80-word news items, 100-200 encoder tokens) the LLM's
sequence, and its cost, no longer grows with the text.

    latents (K, D) -> [cross-attention to the fused states (padding masked) + FFN] x layers
                   -> LayerNorm -> Linear(D -> D_llm) -> K soft tokens (B, K, D_llm)

Pre-norm blocks with residuals; keys and values are the fused states only (real tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.errors import ConfigError
from layerbridge.projector.base import Projector, ProjectorConfig


@dataclass
class PerceiverConfig(ProjectorConfig):
    name: ClassVar[str] = "perceiver"
    latents: int = 32  # K: soft tokens the LLM reads per text
    layers: int = 2
    heads: int = 4  # must divide the encoder's hidden size
    ffn_mult: int = 4  # FFN width as a multiple of the encoder's hidden size
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("latents", "layers", "heads", "ffn_mult"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"perceiver: {name} must be an integer >= 1, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"perceiver: dropout must be in [0, 1), got {self.dropout}")


class PerceiverBlock(nn.Module):
    def __init__(self, size: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.norm_latents, self.norm_states = nn.LayerNorm(size), nn.LayerNorm(size)
        self.attention = nn.MultiheadAttention(size, heads, dropout=dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(size)
        self.ffn = nn.Sequential(nn.Linear(size, ffn), nn.GELU(), nn.Linear(ffn, size), nn.Dropout(dropout))

    def forward(self, latents: torch.Tensor, states: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        kv = self.norm_states(states)  # (B, S, D)
        attended, _ = self.attention(self.norm_latents(latents), kv, kv, key_padding_mask=padding,
                                     need_weights=False)  # (B, K, D)
        latents = latents + attended
        return latents + self.ffn(self.norm_ffn(latents))


class PerceiverProjector(Projector):
    """(fused (B, S, D), mask (B, S)) -> (soft tokens (B, K, D_llm), their mask (B, K), all ones)."""

    compresses: ClassVar[bool] = True  # the bridge gives it the mask and takes the soft tokens' own mask back

    def __init__(self, config: PerceiverConfig, encoder_size: int, llm_size: int):
        super().__init__()
        if encoder_size % config.heads:
            raise ConfigError(f"perceiver: heads={config.heads} does not divide the encoder hidden size {encoder_size}")
        self.config = config
        self.latents = nn.Parameter(torch.randn(config.latents, encoder_size) * 0.02)  # (K, D)
        self.blocks = nn.ModuleList(
            PerceiverBlock(encoder_size, config.heads, config.ffn_mult * encoder_size, config.dropout)
            for _ in range(config.layers))
        self.norm = nn.LayerNorm(encoder_size)
        self.out = nn.Linear(encoder_size, llm_size)

    def forward(self, fused: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = fused.shape[0]
        latents = self.latents.to(fused.dtype).unsqueeze(0).expand(B, -1, -1)  # (B, K, D)
        padding = ~mask.bool()  # (B, S): True where there is no token
        for block in self.blocks:
            latents = block(latents, fused, padding)
        soft = self.out(self.norm(latents))  # (B, K, D_llm)
        return soft, torch.ones(soft.shape[:2], dtype=mask.dtype, device=mask.device)
