"""The projector registry: a name -> (config dataclass, module class), as fusion/registry.py.

    from layerbridge.projector import register_projector
    register_projector(MyProjectorConfig, MyProjector)   # MyProjectorConfig.name == "my_projector"
    projector = build_projector("my_projector", 384, 576)

Registered projectors are saved and loaded by name (bridge_config.json), like the built-in ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from layerbridge.errors import ConfigError
from layerbridge.projector.base import PROJECTOR_INITS, Projector, ProjectorConfig
from layerbridge.projector.linear import LinearConfig, LinearProjector
from layerbridge.projector.mlp import MLPConfig, MLPProjector
from layerbridge.projector.perceiver import PerceiverConfig, PerceiverProjector
from layerbridge.projector.pooled import PooledConfig, PooledProjector
from layerbridge.registry import options_of, register

PROJECTORS: dict[str, tuple[type[ProjectorConfig], type[Projector]]] = {}


def register_projector(config_cls: type[ProjectorConfig], module_cls: type[Projector], *,
                       replace: bool = False) -> None:
    """Make a projector available by `config_cls.name` to BridgeConfig, the CLI and from_pretrained."""
    register(PROJECTORS, config_cls, module_cls, config_base=ProjectorConfig, module_base=Projector, replace=replace)


def list_projectors() -> list[str]:
    """Names of the registered projectors (linear, mlp, perceiver, pooled plus any register_projector() additions)."""
    return list(PROJECTORS)


def projector_config(name: str, options: dict[str, Any] | None = None) -> ProjectorConfig:
    """The validated config of projector `name` with `options` overriding its defaults."""
    if name not in PROJECTORS:
        raise ConfigError(f"projector must be one of {tuple(PROJECTORS)}, got {name!r}")
    if options and not dataclasses.fields(PROJECTORS[name][0]):
        with_options = [n for n, (config_cls, _) in PROJECTORS.items() if dataclasses.fields(config_cls)]
        raise ConfigError(f"projector {name!r} takes no options (got {sorted(options)}); "
                          f"only {', '.join(map(repr, with_options))} have some")
    return options_of(PROJECTORS, "projector", name, options)


def check_projector(name: str, options: dict[str, Any] | None) -> None:
    """Validate a projector's name and options."""
    projector_config(name, options)


def build_projector(name: str, in_dim: int, out_dim: int, init: str = "default",
                    options: dict[str, Any] | None = None) -> Projector:
    """The projector `name` mapping D_enc = in_dim to D_llm = out_dim, `options` over its config's
    defaults, its weights given the start `init` (one of PROJECTOR_INITS that it accepts)."""
    if init not in PROJECTOR_INITS:
        raise ConfigError(f"projector_init must be one of {PROJECTOR_INITS}, got {init!r}")
    config = projector_config(name, options)
    module_cls = PROJECTORS[name][1]
    if init not in module_cls.inits:
        accepting = [n for n, (_, cls) in PROJECTORS.items() if init in cls.inits]
        raise ConfigError(f"projector_init={init!r} needs a projector that accepts it ({', '.join(accepting)}), "
                          f"got {name!r}; use --projector {accepting[0] if accepting else 'linear'}")
    projector = module_cls(config, in_dim, out_dim)
    projector.apply_init(init)
    return projector


for _config_cls, _module_cls in (
    (LinearConfig, LinearProjector),
    (MLPConfig, MLPProjector),
    (PerceiverConfig, PerceiverProjector),
    (PooledConfig, PooledProjector),
):
    register_projector(_config_cls, _module_cls)
