"""A stopping criterion for `generate`: stop strings that count only after some text.

transformers' `stop_strings` end a row as soon as a stop string appears, so an LLM whose first
token is a newline (SmolLM2 does this for a quarter of low-resource inputs in flores_en) is cut to
an empty answer although it goes on to write one. Here a row is done once a stop string appears
after its first non-whitespace character.
"""

from __future__ import annotations

import torch
from transformers import StoppingCriteria


class StopAfterText(StoppingCriteria):
    def __init__(self, stops: list[str], tokenizer):
        self.stops, self.tokenizer = list(stops), tokenizer

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        # input_ids: (rows, new tokens so far); the prompt was given as embeddings, so only new tokens
        texts = self.tokenizer.batch_decode(input_ids, skip_special_tokens=True)
        done = [any(stop in text.lstrip() for stop in self.stops) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
