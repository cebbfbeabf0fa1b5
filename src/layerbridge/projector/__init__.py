"""Projectors: how the fused encoder states reach the LLM's embedding space. `linear` (the paper),
`mlp` (MindMerger), `perceiver` (LangBridge: K soft tokens per text) and `pooled` (the sentence
embedding alone; linear and mlp take it as `pooled=k` beside their own), each a small config
dataclass plus a module, found through one registry (`registry.py`); `register_projector` adds one
without editing this package."""

from layerbridge.projector.base import PROJECTOR_INITS, Projector, ProjectorConfig
from layerbridge.projector.registry import (
    PROJECTORS,
    build_projector,
    check_projector,
    list_projectors,
    projector_config,
    register_projector,
)

__all__ = ["PROJECTORS", "PROJECTOR_INITS", "Projector", "ProjectorConfig", "build_projector", "check_projector",
           "list_projectors", "projector_config", "register_projector"]
