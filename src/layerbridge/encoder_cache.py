"""Cache of the frozen encoder's hidden states (all fused layers), computed once per text.

A frozen encoder in eval mode is a pure function of its input, so re-running it every epoch (as
the authors' pipeline does) is wasted work. States are kept in memory in half precision, only for
real tokens: (S_i, L, D) per text. The cache refuses to start when its estimated size exceeds the
bound, with a message saying how to raise the bound or switch the cache off.
"""

from __future__ import annotations

import torch

from layerbridge.errors import ConfigError


class EncoderStateCache:
    def __init__(self, bridge, *, max_gb: float = 4.0, dtype: torch.dtype = torch.float16):
        if not bridge.config.freeze_encoder:
            raise ConfigError("the encoder cache needs a frozen encoder (it is unfrozen); use --no-encoder-cache")
        self.bridge, self.max_bytes, self.dtype = bridge, int(max_gb * 2**30), dtype
        self.store: dict[str, torch.Tensor] = {}
        self.hits = self.misses = 0

    def bytes_per_token(self) -> int:
        bridge = self.bridge
        return len(bridge.layer_indices) * bridge.config.encoder_hidden_size * torch.finfo(self.dtype).bits // 8

    def check_fits(self, token_lengths: list[int]) -> int:
        """Estimated bytes for texts of these token lengths; a ConfigError when over the bound."""
        tokens = sum(token_lengths)
        need = tokens * self.bytes_per_token()
        if need > self.max_bytes:
            raise ConfigError(
                f"the encoder cache would need {need / 2**30:.2f} GiB for {len(token_lengths)} texts "
                f"({tokens:,} tokens x {self.bytes_per_token():,} bytes) but is bounded at "
                f"{self.max_bytes / 2**30:.2f} GiB; raise --encoder-cache-gb or pass --no-encoder-cache"
            )
        return need

    @torch.no_grad()
    def states(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(states (B, S, L, D) in the bridge's dtype, right-padded; mask (B, S))."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.store))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            enc = self.bridge.tokenize(missing)
            computed = self.bridge.encoder_states(**enc)  # (b, S, L, D)
            for text, row, mask in zip(missing, computed, enc["attention_mask"]):
                self.store[text] = row[mask.bool()].to(self.dtype).cpu().clone()  # (S_i, L, D)
        rows = [self.store[t] for t in texts]
        S = max(r.shape[0] for r in rows)
        L, D = rows[0].shape[1:]
        device, dtype = self.bridge.device, self.bridge.end_boundary.dtype
        states = torch.zeros(len(rows), S, L, D, dtype=dtype, device=device)
        mask = torch.zeros(len(rows), S, dtype=torch.long, device=device)
        for b, r in enumerate(rows):
            states[b, : r.shape[0]] = r.to(device=device, dtype=dtype)
            mask[b, : r.shape[0]] = 1
        return states, mask
