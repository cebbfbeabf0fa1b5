"""The injection registry: a name -> (config dataclass, module class), as fusion/registry.py."""

from __future__ import annotations

from typing import Any

from layerbridge.errors import ConfigError
from layerbridge.injection.base import Injection, InjectionConfig
from layerbridge.injection.cross_attention import CrossAttentionConfig, CrossAttentionInjection
from layerbridge.injection.input import InputConfig, InputInjection

INJECTIONS: dict[str, tuple[type[InjectionConfig], type[Injection]]] = {}


def register_injection(config_cls: type[InjectionConfig], module_cls: type[Injection], *,
                       replace: bool = False) -> None:
    name = getattr(config_cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{config_cls.__name__} needs a class attribute `name` (the injection's registry name)")
    if not (isinstance(config_cls, type) and issubclass(config_cls, InjectionConfig)):
        raise ConfigError(f"injection {name!r}: {config_cls!r} is not an InjectionConfig subclass")
    if not (isinstance(module_cls, type) and issubclass(module_cls, Injection)):
        raise ConfigError(f"injection {name!r}: {module_cls!r} is not an Injection subclass")
    if name in INJECTIONS and not replace:
        raise ConfigError(f"an injection named {name!r} is already registered (pass replace=True to override it)")
    INJECTIONS[name] = (config_cls, module_cls)


def injection_config(name: str, options: dict[str, Any] | None = None) -> InjectionConfig:
    if name not in INJECTIONS:
        raise ConfigError(f"unknown injection {name!r}; choose one of: {', '.join(INJECTIONS)}")
    return INJECTIONS[name][0].from_dict(dict(options or {}))


def build_injection(name: str, options: dict[str, Any] | None, *, llm, num_layers: int, hidden_size: int) -> Injection:
    return INJECTIONS[name][1](injection_config(name, options), llm=llm, num_layers=num_layers, hidden_size=hidden_size)


for _config_cls, _module_cls in ((InputConfig, InputInjection), (CrossAttentionConfig, CrossAttentionInjection)):
    register_injection(_config_cls, _module_cls)
