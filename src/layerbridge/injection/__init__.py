"""Injections: how the encoder reaches the LLM, beside the fusion axis. `input` (soft tokens at
the LLM input, the paper) and `cross_attention` (LayAlign: every LLM layer attends to the encoder)."""

from layerbridge.injection.base import Injection, InjectionConfig
from layerbridge.injection.registry import INJECTIONS, build_injection, injection_config, register_injection

__all__ = ["INJECTIONS", "Injection", "InjectionConfig", "build_injection", "injection_config", "register_injection"]
