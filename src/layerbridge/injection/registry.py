"""The injection registry: a name -> (config dataclass, module class), as fusion/registry.py."""

from __future__ import annotations

from typing import Any

from layerbridge.injection.base import Injection, InjectionConfig
from layerbridge.injection.cross_attention import CrossAttentionConfig, CrossAttentionInjection
from layerbridge.injection.input import InputConfig, InputInjection
from layerbridge.registry import options_of, register

INJECTIONS: dict[str, tuple[type[InjectionConfig], type[Injection]]] = {}


def register_injection(config_cls: type[InjectionConfig], module_cls: type[Injection], *,
                       replace: bool = False) -> None:
    """Make an injection available by `config_cls.name` to BridgeConfig, the CLI and from_pretrained."""
    register(INJECTIONS, config_cls, module_cls, config_base=InjectionConfig, module_base=Injection, replace=replace)


def injection_config(name: str, options: dict[str, Any] | None = None) -> InjectionConfig:
    return options_of(INJECTIONS, "injection", name, options)


def build_injection(name: str, options: dict[str, Any] | None, *, llm, num_layers: int, hidden_size: int) -> Injection:
    return INJECTIONS[name][1](injection_config(name, options), llm=llm, num_layers=num_layers, hidden_size=hidden_size)


for _config_cls, _module_cls in ((InputConfig, InputInjection), (CrossAttentionConfig, CrossAttentionInjection)):
    register_injection(_config_cls, _module_cls)
