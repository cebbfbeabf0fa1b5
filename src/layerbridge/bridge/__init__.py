"""The bridge model, its config, and saving/loading."""

from layerbridge.bridge.config import BridgeConfig
from layerbridge.bridge.model import BridgeOutput, LayerBridge

__all__ = ["BridgeConfig", "BridgeOutput", "LayerBridge"]
