"""Language centring (`center_languages`): every input language's mean encoder state moved onto
English's, which makes the encoder's layers far more language-neutral (docs/generation.md).

The state is explicit and small: `source_mean`, the English mean fitted on the training text and
saved with the bridge, and `input_mean`, the mean of the language being read, set only inside
`language(...)` (transductive: fitted on the unlabelled texts being evaluated, no translation).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from layerbridge.bridge.parts import inference


class LanguageCentring(nn.Module):
    def __init__(self, num_layers: int, hidden_size: int):
        super().__init__()
        self.register_buffer("source_mean", torch.zeros(num_layers, hidden_size))  # (L, D) English
        self.input_mean: torch.Tensor | None = None  # (L, D) the current input language, or None

    def shift(self, states: torch.Tensor) -> torch.Tensor:
        """states (B, S, L, D) of the current input language, moved onto English (unchanged outside
        a `language` block)."""
        if self.input_mean is None:
            return states
        return states + (self.source_mean - self.input_mean).to(states.dtype)

    @contextlib.contextmanager
    def language(self, mean: torch.Tensor):
        """Inside this block the inputs are taken to have the mean state `mean` (L, D)."""
        self.input_mean = mean
        try:
            yield
        finally:
            self.input_mean = None


@inference
def mean_state(bridge, texts: list[str], batch_size: int = 32) -> torch.Tensor:
    """Mean of the bridge's selected (uncentred) layer states over the real tokens of `texts`: (L, D)."""
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        enc = bridge.tokenize(texts[start : start + batch_size])
        states = bridge.encoder_states(**enc, centred=False).float()  # (B, S, L, D)
        mask = enc["attention_mask"].float()[:, :, None, None]
        total = total + (states * mask).sum((0, 1))
        count += int(enc["attention_mask"].sum())
    return total / max(count, 1)
