"""Assemble the LLM's input, left-padded:

    [BOS] + soft tokens + [end boundary] + LLM prompt tokens + target tokens

The LLM prompt (an instruction, optionally with the raw input text; docs/generation.md) is read
through the LLM's own embeddings and is never a target. Without soft tokens (`soft=None`: the LLM
alone) the sequence is [BOS] + prompt + target.

Left padding keeps every sequence's last real position at the right edge, so generation and
target scoring line up across a batch. Position ids restart at 0 on each sequence's first real
position, so a text gives the same result alone as inside a padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LLMInputs:
    inputs_embeds: torch.Tensor  # (B, T, H)
    attention_mask: torch.Tensor  # (B, T) long, 0 on left padding
    position_ids: torch.Tensor  # (B, T) long
    target_rows: torch.Tensor  # (N,) batch row of every target token
    target_positions: torch.Tensor  # (N,) position whose output predicts that token
    target_ids: torch.Tensor  # (N,) the target token ids


def assemble(
    soft: torch.Tensor | None,
    soft_mask: torch.Tensor | None,
    end_boundary: torch.Tensor,
    bos: torch.Tensor | None,
    targets: list[torch.Tensor] | None,
    target_ids: list[list[int]] | None,
    prompts: list[torch.Tensor] | None = None,
) -> LLMInputs:
    """soft (B, S, H) with soft_mask (B, S), or None (no soft tokens, no boundary); end_boundary (H,);
    bos (H,) or None; prompts / targets: per example the (p_b, H) / (m_b, H) embeddings of its prompt /
    target ids (None: none / prefix only)."""
    B = len(prompts) if soft is None else soft.shape[0]
    device = end_boundary.device
    rows = []
    for b in range(B):
        parts = [] if bos is None else [bos.unsqueeze(0)]
        if soft is not None:
            parts += [soft[b][soft_mask[b].bool()], end_boundary.unsqueeze(0)]
        if prompts is not None:
            parts.append(prompts[b])
        if targets is not None:
            parts.append(targets[b])
        rows.append(torch.cat(parts, dim=0))
    lengths = torch.tensor([row.shape[0] for row in rows], device=device)
    T = int(lengths.max())
    embeds = torch.stack([F.pad(row, (0, 0, T - row.shape[0], 0)) for row in rows])  # (B, T, H)
    positions = torch.arange(T, device=device).unsqueeze(0)  # (1, T)
    start = (T - lengths).unsqueeze(1)  # (B, 1) first real position
    attention_mask = (positions >= start).long()  # (B, T)
    position_ids = (positions - start).clamp(min=0)  # (B, T)

    t_rows, t_pos, t_ids = [], [], []
    for b, ids in enumerate(target_ids or []):
        m = len(ids)
        t_rows += [b] * m
        t_pos += range(T - m - 1, T - 1)  # the output at p predicts the token at p + 1
        t_ids += ids
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731
    return LLMInputs(embeds, attention_mask, position_ids, as_long(t_rows), as_long(t_pos), as_long(t_ids))
