"""What every projector shares: its config base class and the module contract.

A projector maps the fused encoder states (D_enc) into the LLM's input-embedding space (D_llm).
Input  `fused`: (B, S, D_enc), zero on padding.
Token by token (`compresses = False`, linear, mlp): `projector(fused)` -> (B, S, D_llm), one soft
token per encoder token.
Compressing (`compresses = True`, perceiver, pooled, and linear / mlp with pooled=k):
`projector(fused, mask)` with `mask` (B, S), 1 on real tokens -> (soft (B, K, D_llm), soft_mask
(B, K)): the LLM reads K soft tokens per text (k + S with pooled=k: the pooled ones first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from layerbridge.errors import ConfigError
from layerbridge.registry import OptionsConfig

# The starts a projector may be given (BridgeConfig.projector_init); each projector says which it
# accepts (`Projector.inits`). "lexical" is fitted after the bridge is built (bridge.lexical_init).
PROJECTOR_INITS = ("default", "identity", "lexical")


@dataclass
class ProjectorConfig(OptionsConfig):
    """Base of every projector config: a plain dataclass that round-trips through JSON."""

    kind: ClassVar[str] = "projector"


class Projector(nn.Module):
    """Base module. It defines no __init__, so that a projector may also be a torch layer (the
    linear projector is an nn.Linear, the mlp an nn.Sequential) and keep that layer's state-dict
    keys; a subclass is built as `cls(config, in_dim, out_dim)` and sets `self.config`."""

    compresses: ClassVar[bool] = False  # True: called with the mask, returns (soft, soft_mask)
    inits: ClassVar[tuple[str, ...]] = ("default",)  # the projector_init values it accepts

    def apply_init(self, init: str) -> None:
        """Give the freshly built weights the start `init` (one of `inits`); "default" keeps torch's."""
        if init != "default":
            raise ConfigError(f"projector {self.config.name!r} has no start {init!r}")
