"""What every injection shares: how the encoder reaches the LLM besides (or instead of) the soft
tokens at its input. An injection is a config dataclass plus a module, found through one registry,
as fusions are. Its module holds the trained weights (saved with the bridge); while the bridge runs
the frozen LLM, `attached(llm, states, mask)` hooks it into the LLM and removes the hooks after.

Input `states`: (B, S, L, D) the selected encoder layers of each token; `mask`: (B, S), 1 on real
tokens. Rows of the LLM batch may repeat each text (k rows per text, text-major: candidates of
shared-prefix scoring, beams): an injection serves each text's k rows from its one encoder side.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from layerbridge.registry import OptionsConfig


@dataclass
class InjectionConfig(OptionsConfig):
    """Base of every injection config: a plain dataclass that round-trips through JSON."""

    kind: ClassVar[str] = "injection"


class Injection(nn.Module):
    """Base module: no hooks (the plain bridge: the LLM reads the soft tokens at its input only)."""

    def __init__(self, config: InjectionConfig, *, llm, num_layers: int, hidden_size: int):
        super().__init__()
        self.config = config

    @contextlib.contextmanager
    def attached(self, llm, states: torch.Tensor | None, mask: torch.Tensor | None):
        yield

