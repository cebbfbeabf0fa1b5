"""Useful FLOPs of one training step, counted analytically, and this machine's matmul peak.

What is counted (a multiply-add is 2 FLOPs; only matrix multiplies, no norms / softmax / adds):

- LLM (frozen): for every example, the positions 0 .. T_i - 2 of its real sequence
  [BOS] + soft tokens + boundary + target tokens (the last target, EOS, is only predicted, never
  fed). Forward: every projection (q, k, v, o, gate, up, down) per position, plus causal
  attention (QK^T and PV over the n(n+1)/2 position pairs). Backward: only gradients of the
  activations (the LLM has no trainable weights): one matmul per projection (dX = dY W) = 1x the
  projections' forward, and 2x the attention forward (dQ, dK from dS; dP, dV from dO).
  The LM head (H x V) only at the N target positions: forward 1x, backward dX 1x.
- Encoder (frozen, no gradient): forward over each text's real tokens, only when its states are
  not cached (bidirectional attention over the text's own tokens).
- Fusion per real encoder token: `last` 0; `global_softmax` the weighted sum (2LD) and its
  weight gradient (2LD); `token_softmax` the gate Transformer: every layer but the last over L+1
  positions (projections, attention, FFN), the last one only at the CLS output, which is all
  that is read (4 D x D projections, scores and weighted sum over L+1 positions per head, FFN:
  `fusion/cls_readout.py`), and its output head, forward 1x, backward 2x (weight and input
  gradients: the layer-position and CLS parameters sit at its input), plus the weighted sum.
- Projector Linear(D -> H) per real encoder token: forward, weight gradient, and its input
  gradient when the fusion has parameters.
Padding is never counted: it is work, not useful work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch


@dataclass
class Dims:
    """The sizes the count needs, read from the loaded models' configs."""

    llm_layers: int
    llm_hidden: int
    llm_ffn: int
    llm_q_dim: int  # heads x head_dim
    llm_kv_dim: int  # kv heads x head_dim
    vocab: int
    enc_layers: int
    enc_hidden: int
    enc_ffn: int
    fused_layers: int
    gate_ffn: int | None  # token_softmax FFN size (None for the other fusions)
    gate_layers: int
    gate_heads: int

    @classmethod
    def of(cls, bridge) -> "Dims":
        if bridge.config.projector not in ("linear", "mlp") or bridge.config.injection != "input":
            raise ValueError("the FLOP model counts one soft token per encoder token and no cross-attention: "
                             f"projector {bridge.config.projector!r} / injection {bridge.config.injection!r} are not modelled")
        llm, enc = bridge.llm.config, bridge.encoder.config
        head_dim = getattr(llm, "head_dim", None) or llm.hidden_size // llm.num_attention_heads
        kv_heads = getattr(llm, "num_key_value_heads", None) or llm.num_attention_heads
        options = getattr(bridge.fusion, "config", None)
        token_gate = hasattr(options, "gate_ffn_size")  # token_softmax, or a variant of it
        return cls(
            llm_layers=llm.num_hidden_layers, llm_hidden=llm.hidden_size, llm_ffn=llm.intermediate_size,
            llm_q_dim=llm.num_attention_heads * head_dim, llm_kv_dim=kv_heads * head_dim, vocab=llm.vocab_size,
            enc_layers=enc.num_hidden_layers, enc_hidden=enc.hidden_size,
            enc_ffn=getattr(enc, "intermediate_size", None) or enc.d_ff,  # T5-family configs call it d_ff
            fused_layers=len(bridge.layer_indices),
            gate_ffn=options.gate_ffn_size if token_gate else None,
            gate_layers=options.gate_layers if token_gate else 0,
            gate_heads=options.gate_heads if token_gate else 0,
        )


def llm_projection_flops(d: Dims) -> int:
    """Forward FLOPs of one position through all LLM layers' projections (no attention core)."""
    H = d.llm_hidden
    attention = 2 * H * d.llm_q_dim + 2 * 2 * H * d.llm_kv_dim + 2 * d.llm_q_dim * H
    mlp = 3 * 2 * H * d.llm_ffn  # gate, up, down
    return d.llm_layers * (attention + mlp)


def llm_attention_flops(d: Dims, n: int) -> int:
    """Forward FLOPs of causal attention (QK^T and PV) over one sequence of n positions."""
    pairs = n * (n + 1) // 2
    return d.llm_layers * 2 * 2 * d.llm_q_dim * pairs


def encoder_flops(d: Dims, s: int) -> int:
    """Forward FLOPs of the encoder over one text of s tokens."""
    D = d.enc_hidden
    per_token = 4 * 2 * D * D + 2 * 2 * D * d.enc_ffn
    return d.enc_layers * (s * per_token + 2 * 2 * D * s * s)


def fusion_flops(d: Dims, fusion: str, tokens: int) -> int:
    """Forward + backward FLOPs of the fusion over `tokens` real encoder tokens."""
    L, D = d.fused_layers, d.enc_hidden
    mix = 2 * L * D * 2  # weighted sum, and the gradient of its weights
    if fusion == "last":
        return 0
    if fusion == "global_softmax":
        return tokens * mix
    P = L + 1  # the gate runs over the CLS vector and the L layer vectors
    per_position = 4 * 2 * D * D + 2 * 2 * D * d.gate_ffn
    full_layer = P * per_position + 2 * 2 * D * P * P
    cls_layer = per_position + 2 * 2 * d.gate_heads * P * D  # the last layer: the CLS output only
    gate = (d.gate_layers - 1) * full_layer + cls_layer + 2 * D * L  # + output head on CLS
    return tokens * (3 * gate + mix)


def projector_flops(d: Dims, fusion: str, tokens: int) -> int:
    """Linear(D -> H): forward, weight gradient, and input gradient when the fusion trains."""
    one = 2 * d.enc_hidden * d.llm_hidden
    return tokens * one * (2 if fusion == "last" else 3)


def step_flops(d: Dims, fusion: str, enc_lengths: list[int], llm_lengths: list[int], n_targets: int,
               encoder_cached: bool = True) -> dict[str, int]:
    """Useful FLOPs of one training step by part. llm_lengths are the real sequence lengths T_i."""
    positions = [t - 1 for t in llm_lengths]
    projections = llm_projection_flops(d) * sum(positions)
    attention = sum(llm_attention_flops(d, n) for n in positions)
    head = 2 * d.llm_hidden * d.vocab * n_targets
    parts = {
        "llm": 2 * projections + 3 * attention + 2 * head,
        "encoder": 0 if encoder_cached else sum(encoder_flops(d, s) for s in enc_lengths),
        "fusion": fusion_flops(d, fusion, sum(enc_lengths)),
        "projector": projector_flops(d, fusion, sum(enc_lengths)),
    }
    parts["total"] = sum(parts.values())
    return parts


# ------------------------------------------------------------------------- the machine's peak
def matmul_rate(m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 3) -> float:
    """Best FLOP/s of torch.matmul (m x k) @ (k x n) in `dtype` over `repeats` timed calls."""
    a = torch.randn(m, k).to(dtype)
    b = torch.randn(k, n).to(dtype)
    torch.matmul(a, b)  # warm-up (kernel selection)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """This machine's matmul peak in FLOP/s: best of `repeats` square multiplies."""
    return matmul_rate(size, size, size, dtype, repeats)
