"""Fusion strategies: one registry maps a name to (config dataclass, module class).

    from layerbridge.fusion import build_fusion
    fusion = build_fusion("token_softmax", {"gate_ffn_size": 1024}, num_layers=12, hidden_size=384)

New strategies register here, like PEFT's tuners: a small config plus a module.
"""

from __future__ import annotations

from typing import Any

from layerbridge.errors import ConfigError
from layerbridge.fusion.base import Fusion, FusionConfig
from layerbridge.fusion.global_softmax import GlobalSoftmaxConfig, GlobalSoftmaxFusion
from layerbridge.fusion.last import LastLayerConfig, LastLayerFusion
from layerbridge.fusion.token_softmax import TokenSoftmaxConfig, TokenSoftmaxFusion

FUSIONS: dict[str, tuple[type[FusionConfig], type[Fusion]]] = {
    LastLayerConfig.name: (LastLayerConfig, LastLayerFusion),
    GlobalSoftmaxConfig.name: (GlobalSoftmaxConfig, GlobalSoftmaxFusion),
    TokenSoftmaxConfig.name: (TokenSoftmaxConfig, TokenSoftmaxFusion),
}


def fusion_config(name: str, options: dict[str, Any] | None = None) -> FusionConfig:
    """The validated config of fusion `name` with `options` overriding its defaults."""
    if name not in FUSIONS:
        raise ConfigError(f"unknown fusion {name!r}; choose one of: {', '.join(FUSIONS)}")
    config_cls, _ = FUSIONS[name]
    return config_cls.from_dict(dict(options or {}))


def build_fusion(
    name: str, options: dict[str, Any] | None, *, num_layers: int, hidden_size: int
) -> Fusion:
    config = fusion_config(name, options)
    _, module_cls = FUSIONS[name]
    return module_cls(config, num_layers=num_layers, hidden_size=hidden_size)


__all__ = ["FUSIONS", "Fusion", "FusionConfig", "build_fusion", "fusion_config"]
