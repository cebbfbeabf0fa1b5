"""The LLM's own input embeddings posing as a 0-layer "encoder": the LLM-alone baseline.

A bridge built on it reads the raw text through the LLM's own tokenizer and embedding table, so
the same training and evaluation code measures what the LLM can do without the multilingual
encoder, with the same supervision and a trainable adapter of similar size.
Named `llm-embeddings:<llm name>` wherever an encoder name is accepted.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import torch
from torch import nn

PREFIX = "llm-embeddings:"


class LLMEmbeddingEncoder(nn.Module):
    """hidden_states = (token embeddings,): one "layer", index 0, frozen like any encoder."""

    def __init__(self, llm):
        super().__init__()
        # The LLM's own embedding module, shared (no copy of the table: Gemma's is 262k rows) and
        # called as the LLM calls it: some families scale inside it (Gemma: x sqrt(H)).
        embeddings = llm.get_input_embeddings()
        self.embeddings = embeddings
        self.config = SimpleNamespace(
            num_hidden_layers=0, hidden_size=embeddings.weight.shape[1], vocab_size=embeddings.weight.shape[0],
            model_type="llm-embeddings",
        )

    def forward(self, input_ids: torch.Tensor, attention_mask=None, output_hidden_states=True, return_dict=True):
        hidden = self.embeddings(input_ids)  # (B, S, H)
        return SimpleNamespace(hidden_states=(hidden,), last_hidden_state=hidden)


def llm_embedding_encoder(llm, tokenizer):
    """(encoder, tokenizer) for the LLM-alone baseline; the tokenizer pads on the right."""
    tokenizer = copy.deepcopy(tokenizer)  # the LLM keeps its own
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LLMEmbeddingEncoder(llm).eval(), tokenizer
