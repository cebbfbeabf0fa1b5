"""The LLM's output layer on picked positions, in float32 whatever precision the LLM runs in.

Under bf16 autocast (or with the LLM held in bf16) a plain `lm_head(hidden)` returns bf16 logits:
rounded to 8 significant bits before the softmax, which reorders close candidates and biases the
loss. Here the matrix product runs in float32 over chunks of the vocabulary, so a bf16-held head
is never copied whole to float32 (Llama-3.2-1B's head would be 1 GiB in float32); the backward
pass re-reads the chunks the same way instead of keeping float32 copies alive.

Families that rescale their logits are honoured as their own modelling code does: Cohere
multiplies by `logit_scale`, Granite divides by `logits_scaling`, Gemma 2/3 soft-cap with
`final_logit_softcapping`.

Inside transformers' own `generate` the model's forward calls its head itself: `float32_head`
makes that call compute in float32 too (the forward's own scaling then applies to float32 logits),
so greedy, beam and sampled choices are the ones float32 logits give.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

VOCAB_CHUNK = 16384  # rows of the output matrix turned to float32 at a time


def _float_chunks(weight: torch.Tensor):
    for start in range(0, weight.shape[0], VOCAB_CHUNK):
        yield start, weight[start : start + VOCAB_CHUNK].float()  # (c, H)


class _Float32Linear(torch.autograd.Function):
    """hidden (N, H) @ weight (V, H)^T in float32 -> (N, V); the weight is frozen (no gradient)."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.hidden_dtype = hidden.dtype
        hidden = hidden.float()
        if weight.dtype == torch.float32:
            return hidden @ weight.T
        out = hidden.new_empty(hidden.shape[0], weight.shape[0])
        for start, chunk in _float_chunks(weight):
            out[:, start : start + chunk.shape[0]] = hidden @ chunk.T
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        grad = grad.float()
        if weight.dtype == torch.float32:
            grad_hidden = grad @ weight
        else:
            grad_hidden = sum(grad[:, start : start + chunk.shape[0]] @ chunk for start, chunk in _float_chunks(weight))
        return grad_hidden.to(ctx.hidden_dtype), None


def lm_head_logits(llm: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """(N, H) hidden states -> (N, V) float32 logits, scaled and capped as the LLM's family does."""
    head = llm.get_output_embeddings()
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        logits = _Float32Linear.apply(hidden, head.weight.detach())
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias.float()
        config = llm.config
        scale = getattr(config, "logit_scale", None)  # Cohere: logits * logit_scale
        if scale:
            logits = logits * scale
        divisor = getattr(config, "logits_scaling", None)  # Granite: logits / logits_scaling
        if divisor:
            logits = logits / divisor
        cap = getattr(config, "final_logit_softcapping", None)  # Gemma 2 / 3
        if cap:
            logits = torch.tanh(logits / cap) * cap
    return logits


@contextlib.contextmanager
def float32_head(llm: nn.Module):
    """While inside, the LLM's output layer returns float32 logits (N..., V) whatever its dtype or
    the autocast around it; the family's scaling stays the forward's own."""
    head = llm.get_output_embeddings()

    def forward(hidden: torch.Tensor) -> torch.Tensor:  # (..., H) -> (..., V) float32
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            logits = _Float32Linear.apply(hidden.reshape(-1, hidden.shape[-1]), head.weight.detach())
            logits = logits.view(*hidden.shape[:-1], -1)
            return logits + head.bias.float() if getattr(head, "bias", None) is not None else logits

    head.forward = forward  # the instance's forward: nn.Module.__call__ (and its hooks) call this one
    try:
        yield
    finally:
        del head.forward
