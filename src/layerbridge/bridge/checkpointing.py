"""Gradient checkpointing of the frozen LLM while a bridge trains through it, through transformers:
each decoder layer keeps only its input and recomputes the rest during the backward (memory for
compute). The LLM object is left as it was outside the bridge's own calls, so other bridges sharing
it (compare, benchmarks) are unaffected."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from layerbridge.bridge.attention_kernel import same_kernel_on_recompute
from layerbridge.errors import ConfigError


def checkpointable_layers(llm: nn.Module, name: str) -> list[nn.Module]:
    """Turn transformers' non-reentrant checkpointing on for `llm` and return its checkpointable
    layers, each left switched off (`recomputing` switches them on for one call)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    kwargs = {"use_reentrant": False, "context_fn": same_kernel_on_recompute}
    try:
        if hasattr(llm, "activation_checkpointing_enable"):  # transformers' current name
            llm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    except ValueError as err:  # the model's class does not support it
        raise ConfigError(f"--gradient-checkpointing: the LLM {name!r} cannot be checkpointed ({err})") from err
    llm.disable_input_require_grads()  # only reentrant checkpointing needs its inputs to require grad
    layers = [m for m in llm.modules() if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing]
    if not layers:
        raise ConfigError(f"the LLM {name!r} has no layers transformers can checkpoint")
    for layer in layers:
        layer.gradient_checkpointing = False  # on only inside `recomputing`
    return layers


@contextlib.contextmanager
def recomputing(layers: list[nn.Module]):
    """`layers` recompute during this call's backward. transformers checkpoints a layer whose own
    `gradient_checkpointing` and `training` flags are set: only those two are set (its dropouts stay
    off), and restored after (the recomputation calls the layer's forward itself, not these flags)."""
    saved = [(layer.gradient_checkpointing, layer.training) for layer in layers]
    for layer in layers:
        layer.gradient_checkpointing = layer.training = True
    try:
        yield
    finally:
        for layer, (checkpointing, training) in zip(layers, saved):
            layer.gradient_checkpointing, layer.training = checkpointing, training


def active(layers: list[nn.Module], training: bool) -> bool:
    """This call's LLM layers are checkpointed: there are some, the bridge trains, gradients are on."""
    return bool(layers) and training and torch.is_grad_enabled()
