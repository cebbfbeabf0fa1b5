"""Fusion strategies: each is a small config dataclass plus a module, found through one registry
(`registry.py`); `register_fusion` adds one without editing this package."""

from layerbridge.fusion.base import Fusion, FusionConfig
from layerbridge.fusion.registry import FUSIONS, build_fusion, fusion_config, list_fusions, register_fusion

__all__ = ["FUSIONS", "Fusion", "FusionConfig", "build_fusion", "fusion_config", "list_fusions", "register_fusion"]
