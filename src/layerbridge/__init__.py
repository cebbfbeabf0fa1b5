"""layerbridge: give an English-centric LLM the languages of a multilingual encoder.

A small trained bridge fuses all hidden layers of a frozen multilingual encoder and projects
them into a frozen LLM's input-embedding space (Puranegedara et al., 2025; LangBridge, 2024).
"""

from layerbridge.version import __version__
from layerbridge.bridge import BridgeConfig, BridgeOutput, LayerBridge
from layerbridge.fusion import FUSIONS, register_fusion
from layerbridge.injection import register_injection
from layerbridge.projector import register_projector

__all__ = ["BridgeConfig", "BridgeOutput", "FUSIONS", "LayerBridge", "__version__", "register_fusion", "register_injection",
           "register_projector"]
