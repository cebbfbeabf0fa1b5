"""`input`: the encoder reaches the LLM only as soft tokens at its input (the paper, LangBridge)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from layerbridge.injection.base import Injection, InjectionConfig


@dataclass
class InputConfig(InjectionConfig):
    name: ClassVar[str] = "input"


class InputInjection(Injection):
    """Nothing beyond the soft tokens: no parameters, no hooks."""
