"""`token_softmax`: the paper's Transformer Softmax, token-specific layer weights.

For every real token t, its L layer vectors [h_{1,t} .. h_{L,t}] (L x D) get a learned per-layer
position embedding, a learned CLS vector (zero-initialised) is prepended, and a small Transformer
encoder runs over those L+1 positions. The CLS output goes through Linear(D -> L) and a softmax
over layers: a_{t,1..L}. fused_t = sum_l a_{t,l} h_{l,t}. Pad tokens get zero weight and output.

Paper sizes are the defaults: 1 layer, 1 head, d_model = D, FFN 2048, dropout 0.1, post-norm.
Only the real tokens are fed to the gate (padding is never computed), and its last layer computes
only the CLS output (`cls_readout.py`: the same maths, ~13x less work than the full layer).
`init="random"` is the paper's (PyTorch default) initialisation; `init="last"` zeroes the output
layer's weight and biases it to the last layer, so the fusion starts at the last-layer solution.
`entropy_weight` > 0 (not in the paper) subtracts that multiple of the mean per-token weight
entropy from the loss, against the gate's collapse onto one layer (docs/fusion-study.md);
`layer_drop` > 0 (not in the paper) hides each layer from each token's softmax with that
probability during training (never all of a token's layers), so no single layer can carry a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.errors import ConfigError
from layerbridge.fusion.base import Fusion, FusionConfig
from layerbridge.fusion.cls_readout import cls_output


@dataclass
class TokenSoftmaxConfig(FusionConfig):
    name: ClassVar[str] = "token_softmax"
    gate_layers: int = 1
    gate_heads: int = 1
    gate_ffn_size: int = 2048
    gate_dropout: float = 0.1
    gate_norm_first: bool = False  # the paper's PyTorch defaults: post-norm
    init: str = "random"  # "random" (paper) | "last"
    last_layer_logit: float = 10.0  # with init="last": the output bias of the last layer
    entropy_weight: float = 0.0  # > 0: the loss rewards per-token weight entropy (keeps the gate mixing layers)
    layer_drop: float = 0.0  # training only: the chance each layer is left out of a token's softmax

    def __post_init__(self):
        if self.init not in ("random", "last"):
            raise ConfigError(f"token_softmax: init must be 'random' or 'last', got {self.init!r}")
        for field in ("gate_layers", "gate_heads", "gate_ffn_size"):
            if getattr(self, field) < 1:
                raise ConfigError(f"token_softmax: {field} must be >= 1, got {getattr(self, field)}")
        if self.entropy_weight < 0:
            raise ConfigError(f"token_softmax: entropy_weight must be >= 0, got {self.entropy_weight}")
        if not 0.0 <= self.layer_drop < 1.0:
            raise ConfigError(f"token_softmax: layer_drop must be in [0, 1), got {self.layer_drop}")
        if not 0.0 <= self.gate_dropout < 1.0:
            raise ConfigError(f"token_softmax: gate_dropout must be in [0, 1), got {self.gate_dropout}")


class TokenSoftmaxFusion(Fusion):
    def __init__(self, config: TokenSoftmaxConfig, num_layers: int, hidden_size: int):
        super().__init__(config, num_layers, hidden_size)
        if hidden_size % config.gate_heads:
            raise ConfigError(
                f"token_softmax: gate_heads={config.gate_heads} does not divide the encoder "
                f"hidden size {hidden_size}"
            )
        self.cls = nn.Parameter(torch.zeros(hidden_size))  # (D,)
        self.layer_position = nn.Parameter(torch.randn(num_layers, hidden_size) * 0.02)  # (L, D)
        gate_layer = nn.TransformerEncoderLayer(
            d_model=hidden_size,
            nhead=config.gate_heads,
            dim_feedforward=config.gate_ffn_size,
            dropout=config.gate_dropout,
            batch_first=True,
            norm_first=config.gate_norm_first,
        )
        self.gate = nn.TransformerEncoder(
            gate_layer, num_layers=config.gate_layers, enable_nested_tensor=False
        )
        self.out = nn.Linear(hidden_size, num_layers)
        if config.init == "last":
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            with torch.no_grad():
                self.out.bias[-1] = config.last_layer_logit

    def penalty(self, entropy: torch.Tensor) -> torch.Tensor | None:
        """-entropy_weight x entropy: minimising the loss then keeps each token's weights spread."""
        return -self.config.entropy_weight * entropy if self.config.entropy_weight else None

    def gate_cls(self, x: torch.Tensor) -> torch.Tensor:
        """The gate Transformer's CLS output, (N, L+1, D) -> (N, D): only it is read, so the last
        layer computes only it."""
        *inner, last = self.gate.layers
        for layer in inner:
            x = layer(x)  # (N, L+1, D)
        return cls_output(last, x)

    def layer_weights(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, S, L, D = states.shape
        real = mask.bool()  # (B, S)
        tokens = states[real]  # (N, L, D): only real tokens go through the gate
        tokens = tokens + self.layer_position.to(tokens.dtype)
        cls = self.cls.to(tokens.dtype).expand(tokens.shape[0], 1, D)  # (N, 1, D)
        gated = self.gate_cls(torch.cat([cls, tokens], dim=1))  # (N, D)
        with torch.autocast(device_type=states.device.type, enabled=False):  # float32 logits, never bf16-rounded
            logits = self.out(gated.to(self.out.weight.dtype)).float()  # (N, L)
        if self.training and self.config.layer_drop > 0:
            dropped = torch.rand_like(logits) < self.config.layer_drop  # (N, L)
            dropped &= ~dropped.all(dim=-1, keepdim=True)  # a token that would lose every layer keeps them all
            logits = logits.masked_fill(dropped, float("-inf"))
        token_weights = torch.softmax(logits, dim=-1)  # (N, L)
        weights = torch.zeros(B, S, L, dtype=token_weights.dtype, device=states.device)
        weights[real] = token_weights
        return weights  # (B, S, L), zero on padding
