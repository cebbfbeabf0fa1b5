"""A closed-form start for a linear projector: soft tokens that already look like the LLM's own
embeddings of the same text (projector_init="lexical"; docs/generation.md).

On English text, every encoder token is paired with the LLM tokens whose characters overlap it;
its target is the overlap-weighted mean of their input embeddings. A ridge regression from the
fused encoder state (the fusion as initialised) to that target gives the projector's weight and
bias. A freshly initialised projector emits vectors the frozen LLM has never seen, and a few hundred
steps on English data teach it the topic of the input but not its words (docs/generation.md); this
start gives the LLM legible input from step 0. Needs fast tokenizers (character offsets).
"""

from __future__ import annotations

import torch

RIDGE = 1e-1  # ridge strength, relative to the mean squared norm of the centred features


@torch.no_grad()
def token_pairs(bridge, texts: list[str], batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused encoder states of the tokens of `texts` (N, D) and the LLM embedding each should map to (N, H)."""
    table = bridge.llm.get_input_embeddings().weight
    features, targets = [], []
    for start in range(0, len(texts), batch_size):
        batch = [bridge.config.encoder_prefix + t for t in texts[start : start + batch_size]]
        enc = bridge.encoder_tokenizer(batch, return_offsets_mapping=True, padding=True, truncation=True,
                                       max_length=bridge.config.max_encoder_length, return_tensors="pt")
        offsets = enc.pop("offset_mapping").tolist()
        llm = bridge.llm_tokenizer(batch, return_offsets_mapping=True, add_special_tokens=False)
        enc = {k: v.to(bridge.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        fused, _ = bridge.fusion(bridge.encoder_states(**enc).float(), enc["attention_mask"])  # (B, S, D)
        for b, spans in enumerate(offsets):
            llm_spans, llm_ids = llm["offset_mapping"][b], llm["input_ids"][b]
            for t, (a, z) in enumerate(spans):
                overlap = [(min(z, y) - max(a, x), i) for (x, y), i in zip(llm_spans, llm_ids) if min(z, y) > max(a, x)]
                if z <= a or not overlap:
                    continue  # special tokens and padding
                w = torch.tensor([o for o, _ in overlap], dtype=torch.float32, device=bridge.device)
                targets.append((w[:, None] / w.sum() * table[[i for _, i in overlap]].float()).sum(0))
                features.append(fused[b, t].float())
    return torch.stack(features), torch.stack(targets)


@torch.no_grad()
def fit_lexical_projector(bridge, texts: list[str]) -> dict:
    """Set the bridge's linear projector to the ridge fit; returns the fit's R^2 and token count."""
    x, y = token_pairs(bridge, texts)
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    lam = RIDGE * xc.pow(2).sum() / xc.shape[0]
    weight = torch.linalg.solve(xc.T @ xc + lam * torch.eye(x.shape[1], device=x.device), xc.T @ yc)  # (D, H)
    r2 = 1 - float((xc @ weight - yc).pow(2).sum() / yc.pow(2).sum())
    projector = bridge.projector
    projector.weight.copy_(weight.T.to(projector.weight.dtype))
    projector.bias.copy_((y_mean - x_mean @ weight).to(projector.bias.dtype))
    return {"tokens": int(x.shape[0]), "r2": round(r2, 4)}
