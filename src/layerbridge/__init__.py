"""layerbridge: give an English-centric LLM the languages of a multilingual encoder.

A small trained bridge fuses all hidden layers of a frozen multilingual encoder and projects
them into a frozen LLM's input-embedding space (Puranegedara et al., 2025; LangBridge, 2024).
"""

__version__ = "0.1.0"

from layerbridge.bridge import BridgeConfig, BridgeOutput, LayerBridge  # noqa: E402
from layerbridge.fusion import FUSIONS, register_fusion  # noqa: E402
from layerbridge.injection import register_injection  # noqa: E402

__all__ = ["BridgeConfig", "BridgeOutput", "FUSIONS", "LayerBridge", "__version__", "register_fusion", "register_injection"]
