"""The fusion registry: a name -> (config dataclass, module class), as PEFT's tuners are found.

    from layerbridge.fusion import register_fusion
    register_fusion(MyFusionConfig, MyFusion)     # MyFusionConfig.name == "my_fusion"
    fusion = build_fusion("my_fusion", {}, num_layers=12, hidden_size=384)

Registered fusions are saved and loaded by name (bridge_config.json), like the built-in ones;
`register_task` (layerbridge.tasks) works the same way for tasks.
"""

from __future__ import annotations

from typing import Any

from layerbridge.fusion.base import Fusion, FusionConfig
from layerbridge.fusion.global_softmax import GlobalSoftmaxConfig, GlobalSoftmaxFusion
from layerbridge.fusion.last import LastLayerConfig, LastLayerFusion
from layerbridge.fusion.token_softmax import TokenSoftmaxConfig, TokenSoftmaxFusion
from layerbridge.registry import options_of, register

FUSIONS: dict[str, tuple[type[FusionConfig], type[Fusion]]] = {}


def register_fusion(config_cls: type[FusionConfig], module_cls: type[Fusion], *, replace: bool = False) -> None:
    """Make a fusion available by `config_cls.name` to BridgeConfig, the CLI and from_pretrained."""
    register(FUSIONS, config_cls, module_cls, config_base=FusionConfig, module_base=Fusion, replace=replace)


def list_fusions() -> list[str]:
    """Names of the registered fusions (the three built-ins plus any register_fusion() additions)."""
    return list(FUSIONS)


def fusion_config(name: str, options: dict[str, Any] | None = None) -> FusionConfig:
    """The validated config of fusion `name` with `options` overriding its defaults."""
    return options_of(FUSIONS, "fusion", name, options)


def build_fusion(name: str, options: dict[str, Any] | None, *, num_layers: int, hidden_size: int) -> Fusion:
    config = fusion_config(name, options)
    _, module_cls = FUSIONS[name]
    return module_cls(config, num_layers=num_layers, hidden_size=hidden_size)


for _config_cls, _module_cls in (
    (LastLayerConfig, LastLayerFusion),
    (GlobalSoftmaxConfig, GlobalSoftmaxFusion),
    (TokenSoftmaxConfig, TokenSoftmaxFusion),
):
    register_fusion(_config_cls, _module_cls)
