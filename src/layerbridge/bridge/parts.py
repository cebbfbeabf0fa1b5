"""The bridge's parts: which train and which stay frozen (and in eval mode), what a saved bridge
holds, where the trained parts live, how the frozen LLM is checkpointed. A mixin of `LayerBridge`
(needs its `config`, `encoder`, `llm` and trained modules). `inference`: a method run in eval mode
without gradients, the mode restored after."""

from __future__ import annotations

import functools

import torch
from torch import nn

from layerbridge.bridge import checkpointing
from layerbridge.errors import ConfigError


def inference(method):
    """No gradients and eval mode (no dropout) for the call, the previous mode restored after it:
    scoring, generating or inspecting a bridge in the middle of training gives what it gives after."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        was_training = self.training
        self.train(False)
        try:
            with torch.no_grad():
                return method(self, *args, **kwargs)
        finally:
            self.train(was_training)
    return wrapper


class BridgeParts:
    def train(self, mode: bool = True):
        super().train(mode)
        self.llm.eval()  # frozen: never dropout
        if self.config.freeze_encoder:
            self.encoder.eval()
        return self

    def checkpoint_llm_layers(self) -> None:
        """Gradient checkpointing of the frozen LLM while this bridge trains through it
        (bridge.checkpointing): memory for compute."""
        if self.config.injection != "input":
            raise ConfigError("gradient checkpointing recomputes the LLM's layers after the bridge has taken its "
                              f"{self.config.injection} hooks off them; it works with --injection input only")
        self.checkpointed_layers = checkpointing.checkpointable_layers(self.llm, self.config.llm)

    def checkpoints_llm(self) -> bool:
        """This call's LLM layers are checkpointed: checkpoint_llm_layers, training, gradients on."""
        return checkpointing.active(self.checkpointed_layers, self.training)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a saved bridge holds: everything but the frozen models."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(self.frozen_prefixes)}

    @property
    def frozen_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of the frozen models (never saved with the bridge)."""
        return ("llm.",) + (("encoder.",) if self.config.freeze_encoder else ())

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per part, and the frozen total."""
        count = lambda module: sum(p.numel() for p in module.parameters() if p.requires_grad)  # noqa: E731
        counts = {
            "fusion": count(self.fusion),
            "projector": count(self.projector),
            "injection": count(self.injection),
            "end_boundary": self.end_boundary.numel(),
            "soft_prompt": 0 if self.soft_prompt is None else self.soft_prompt.numel(),
            "encoder (unfrozen)": count(self.encoder),
        }
        counts["trainable"] = sum(counts.values())
        counts["frozen"] = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return counts

    @property
    def device(self) -> torch.device:
        return self.end_boundary.device

    def move_own_parts(self, device: torch.device) -> None:
        """Move what the bridge trains and keeps (fusion, projector, injection, boundary, soft prompt,
        English mean) to `device`; the encoder and LLM stay where they are."""
        for module in (self.fusion, self.projector, self.injection, self.centring):
            if module is not None:
                module.to(device)
        for name in ("end_boundary", "soft_prompt"):
            param = getattr(self, name)
            if param is not None and param.device != device:
                setattr(self, name, nn.Parameter(param.detach().to(device), requires_grad=param.requires_grad))
