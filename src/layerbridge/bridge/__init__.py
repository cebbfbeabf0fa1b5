"""The bridge: the model (model.py), a module per job around it (inference, loading, saving, text,
parts, centring), and its config."""

from layerbridge.bridge.config import BridgeConfig
from layerbridge.bridge.model import BridgeOutput, LayerBridge

__all__ = ["BridgeConfig", "BridgeOutput", "LayerBridge"]
