"""The CLS position's output of a `nn.TransformerEncoderLayer`, without the other positions'.

The token-wise gate reads only the CLS output of its last Transformer layer, yet a plain call
computes the feed-forward block (D -> 2048 -> D) and the attention output at all L+1 positions of
every token and keeps their activations for the backward: ~13x the work the CLS output needs, and
most of the gate's memory. Here, with the layer's own parameters (same state dict, same maths):
- the CLS query is the only query, so its attention scores against every position are
  (W_k^T q) . x_p: one D-vector per head instead of projecting all L+1 keys (the key bias adds
  the same constant to every score and drops out of the softmax);
- the values enter only through their attention-weighted sum, so W_v is applied once to
  sum_p a_p x_p (plus b_v times the weights' sum, which attention dropout makes differ from 1);
- the output projection, the norms and the feed-forward block run on the CLS position alone.
Per token that is ~4 D^2 + 2 D F multiply-adds instead of (L+1)(4 D^2 + 2 D F).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def cls_output(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """x (N, P, D) with the CLS vector at position 0 -> that position's output of `layer`, (N, D)."""
    attn = layer.self_attn
    if not (attn.batch_first and attn._qkv_same_embed_dim and attn.in_proj_bias is not None):
        raise ValueError("cls_output reads batch-first self-attention with one in_proj (weight and bias), as the gate builds it")
    N, P, D = x.shape
    H = attn.num_heads
    d = D // H
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)  # each (D, D)
    b_q, _, b_v = attn.in_proj_bias.chunk(3)  # each (D,)

    x_attn = layer.norm1(x) if layer.norm_first else x  # (N, P, D): what the attention reads
    q = F.linear(x_attn[:, 0], w_q, b_q).view(N, H, d)  # (N, H, d): the CLS query
    q_keys = torch.einsum("nhd,hdk->nhk", q, w_k.view(H, d, D))  # (N, H, D) = W_k,h^T q_h
    scores = torch.matmul(q_keys, x_attn.transpose(1, 2)) / math.sqrt(d)  # (N, H, P)
    weights = F.dropout(torch.softmax(scores, dim=-1), p=attn.dropout, training=attn.training)  # (N, H, P)
    mixed = torch.matmul(weights, x_attn)  # (N, H, D): attention-weighted inputs, per head
    values = torch.einsum("nhk,hdk->nhd", mixed, w_v.view(H, d, D)) + b_v.view(H, d) * weights.sum(-1, keepdim=True)
    attended = attn.out_proj(values.reshape(N, D))  # (N, D)

    cls = x[:, 0]  # (N, D)
    if layer.norm_first:
        cls = cls + layer.dropout1(attended)
        return cls + feed_forward(layer, layer.norm2(cls))
    cls = layer.norm1(cls + layer.dropout1(attended))
    return layer.norm2(cls + feed_forward(layer, cls))


def feed_forward(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """The layer's feed-forward block with its dropouts, as torch's layer applies it. (N, D) -> (N, D)"""
    return layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(x)))))
