"""`cross_attention`: LayAlign's layer-wise injection. Every encoder layer reaches EVERY LLM layer.

For LLM layer j, a learned softmax mix over the L encoder layers, shared adapter A (D -> H):

    m_j = A( sum_l softmax(mix_j)_l h_l )                                   (B, S, H)
    attn_j(x) += tanh(gate_j) * o_proj( softmax(q_proj(x) k_proj(m_j)^T * scale) v_proj(m_j) )

where x is what the layer's self-attention reads (after its input norm) and q/k/v/o_proj are the
LLM's own frozen projections (grouped KV heads shared by SDPA, not copied; q/k norms applied where
the family has them; no rotary positions: the encoder side has no place in the LLM's sequence).
Encoder padding is masked (LayAlign's code does not). gate_j starts at 0, so training starts as the
plain bridge: with zero gates the outputs are exactly those of `input`. The soft tokens at the LLM
input stay.

Rows of the LLM batch that repeat a text (beams, scoring candidates) read that text's keys and
values once: their queries are folded into the query axis, (rows, T) -> (B, k*T). Nothing is
causal on the encoder side, so this is the same attention without k copies of the encoder side.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from layerbridge.errors import ConfigError
from layerbridge.injection.base import Injection, InjectionConfig


@dataclass
class CrossAttentionConfig(InjectionConfig):
    name: ClassVar[str] = "cross_attention"
    gate_init: float = 0.0  # tanh(gate) scales each layer's cross-attention; 0: start as the plain bridge

    def __post_init__(self):
        if not isinstance(self.gate_init, (int, float)):
            raise ConfigError(f"cross_attention: gate_init must be a number, got {self.gate_init!r}")


def decoder_layers(llm) -> list[nn.Module]:
    """The LLM's decoder layers, each with a `self_attn` module (every family here has them)."""
    layers = getattr(llm.base_model, "layers", None)
    if layers is None or not all(hasattr(layer, "self_attn") for layer in layers):
        raise ConfigError(f"cross_attention: cannot find the decoder layers of {type(llm).__name__} "
                          "(expected llm.base_model.layers[i].self_attn)")
    return list(layers)


def attention_shape(attn: nn.Module, config) -> tuple[int, int, int]:
    """(query heads, key/value heads, head size) of one attention module."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(attn, "head_dim", None) or getattr(config, "head_dim", None) or config.hidden_size // heads
    return heads, kv_heads, head_dim


def project_q(attn: nn.Module, x: torch.Tensor, shape) -> torch.Tensor:
    """Queries from the LLM side x (B, T, H) with the module's own projection (separate q_proj, or
    the first part of Phi-3's fused qkv_proj): (B, heads, T, head_dim)."""
    heads, kv_heads, head_dim = shape
    if hasattr(attn, "q_proj"):
        q = attn.q_proj(x)
    else:  # fused: [q | k | v] along the output
        q = attn.qkv_proj(x)[..., : heads * head_dim]
    q = q.view(x.shape[0], x.shape[1], heads, head_dim)
    if getattr(attn, "q_norm", None) is not None:  # Qwen3, Gemma 3, Cohere: per-head norms on q and k
        q = attn.q_norm(q)
    return q.transpose(1, 2)


def project_kv(attn: nn.Module, memory: torch.Tensor, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values from the encoder side (B, S, H) with the module's own projections:
    (B, kv_heads, S, head_dim) each."""
    heads, kv_heads, head_dim = shape
    if hasattr(attn, "q_proj"):
        k, v = attn.k_proj(memory), attn.v_proj(memory)
    else:  # fused: [q | k | v] along the output
        _, k, v = attn.qkv_proj(memory).split([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], dim=-1)
    B, S = memory.shape[:2]
    k, v = k.view(B, S, kv_heads, head_dim), v.view(B, S, kv_heads, head_dim)
    if getattr(attn, "k_norm", None) is not None:
        k = attn.k_norm(k)
    return k.transpose(1, 2), v.transpose(1, 2)


class CrossAttentionInjection(Injection):
    def __init__(self, config: CrossAttentionConfig, *, llm, num_layers: int, hidden_size: int):
        super().__init__(config, llm=llm, num_layers=num_layers, hidden_size=hidden_size)
        n_llm = len(decoder_layers(llm))
        self.llm_config = llm.config.get_text_config()  # heads, KV heads, head size (not a module: not saved)
        llm_hidden = self.llm_config.hidden_size
        self.mix = nn.Parameter(torch.zeros(n_llm, num_layers))  # (N_llm, L): uniform mixes to start
        self.adapter = nn.Linear(hidden_size, llm_hidden)  # D -> H, shared by the LLM layers
        self.gate = nn.Parameter(torch.full((n_llm,), float(config.gate_init)))  # (N_llm,)
        self.reuse_encoder_side = True  # inference: each layer's encoder keys/values once per call

    def memory(self, j: int, states: torch.Tensor) -> torch.Tensor:
        """The encoder side of LLM layer j: (B, S, L, D) -> (B, S, H)."""
        weights = torch.softmax(self.mix[j].float(), dim=-1).to(states.dtype)  # (L,)
        mixed = torch.einsum("bsld,l->bsd", states, weights)  # (B, S, D)
        return self.adapter(mixed.to(self.adapter.weight.dtype))

    def encoder_kv(self, j: int, attn: nn.Module, dtype: torch.dtype, states: torch.Tensor,
                   mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys and values of LLM layer j's encoder side, (B, kv_heads, S, head_dim) each, one per text
        (not per LLM row) and per KV head (not repeated per query head), and which encoder positions
        are real, (B, 1, 1, S)."""
        memory = self.memory(j, states).to(dtype)  # (B, S, H)
        k, v = project_kv(attn, memory, self.head_shape(attn))
        return k, v, mask.bool()[:, None, None, :]

    def head_shape(self, attn: nn.Module) -> tuple[int, int, int]:
        """(query heads, key/value heads, head size) of one of the LLM's attention modules."""
        return attention_shape(attn, getattr(attn, "config", None) or self.llm_config)

    def cross(self, j: int, attn: nn.Module, x: torch.Tensor, kv) -> torch.Tensor:
        """What LLM layer j's attention adds: (rows, T, H) from the LLM side x (rows, T, H), rows = r x B
        (each text's r rows together), and the layer's encoder keys, values and mask (`encoder_kv`)."""
        heads, kv_heads, head_dim = shape = self.head_shape(attn)
        k, v, keep = kv
        rows, T = x.shape[:2]
        texts = k.shape[0]
        if rows % texts:
            raise ValueError(f"an LLM batch of {rows} rows does not repeat the {texts} texts of the encoder side")
        r = rows // texts
        q = project_q(attn, x, shape)  # (rows, heads, T, head_dim)
        q = q.view(texts, r, heads, T, head_dim).transpose(1, 2).reshape(texts, heads, r * T, head_dim)
        scale = getattr(attn, "scaling", None) or head_dim**-0.5
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=scale,
                                             enable_gqa=kv_heads != heads)  # (B, heads, r*T, head_dim)
        out = out.view(texts, heads, r, T, head_dim).permute(0, 2, 3, 1, 4).reshape(rows, T, heads * head_dim)
        return torch.tanh(self.gate[j]).to(x.dtype) * attn.o_proj(out)  # (rows, T, H)

    @contextlib.contextmanager
    def attached(self, llm, states, mask):
        """Hook every decoder layer's self-attention for this call. Without gradients (scoring,
        generation), each layer's encoder keys and values are computed once per call and reused:
        generation runs every layer once per new token, and the encoder side never changes."""
        if states is None:  # the LLM alone: nothing to attend to
            yield
            return
        cache = {}  # (layer, dtype, autocast on) -> encoder_kv, filled only without gradients
        handles = []
        for j, layer in enumerate(decoder_layers(llm)):
            def hook(module, args, kwargs, output, j=j):
                x = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
                reuse = self.reuse_encoder_side and not torch.is_grad_enabled()
                key = (j, x.dtype, torch.is_autocast_enabled(x.device.type))
                kv = cache.get(key) if reuse else None
                if kv is None:
                    kv = self.encoder_kv(j, module, x.dtype, states, mask)
                    if reuse:
                        cache[key] = kv
                added = self.cross(j, module, x, kv)
                if isinstance(output, tuple):
                    return (output[0] + added, *output[1:])
                return output + added

            handles.append(layer.self_attn.register_forward_hook(hook, with_kwargs=True))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
