"""The bridge's text side: encoder tokenisation, the LLM prompt (instruction, raw text, chat
template) and target token ids. A mixin of `LayerBridge` (needs `config`, the two tokenizers,
`eos_id` and `device`)."""

from __future__ import annotations

import torch

from layerbridge.errors import ConfigError


class BridgeText:
    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Encoder token ids and mask (B, S), truncated to max_encoder_length on the config's
        `truncation_side` ("right" keeps a text's start, "left" its end: the encoder prefix and the
        special tokens are kept either way), padded on the tokenizer's side (right)."""
        self.check_encoder_length()
        if self.config.truncation_side == "left":
            return self._tokenize_keeping_end(texts)
        batch = self.encoder_tokenizer(
            [self.config.encoder_prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.config.max_encoder_length,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"].to(self.device), "attention_mask": batch["attention_mask"].to(self.device)}

    def _tokenize_keeping_end(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """`tokenize` with left truncation: a text too long keeps its leading special tokens and
        encoder prefix, then the last tokens of its text, then its trailing special tokens. A text
        that fits is tokenized exactly as with right truncation."""
        tok, limit = self.encoder_tokenizer, self.config.max_encoder_length
        batch = tok([self.config.encoder_prefix + t for t in texts], return_special_tokens_mask=True)
        prefix = self.prefix_length()
        rows = []
        for ids, special in zip(batch["input_ids"], batch["special_tokens_mask"]):
            if len(ids) > limit:
                head = next((i for i, s in enumerate(special) if not s), len(ids))  # leading specials
                tail = next((i for i, s in enumerate(reversed(special)) if not s), 0)  # trailing specials
                body = ids[head : len(ids) - tail]
                keep_prefix = min(prefix, max(limit - head - tail - 1, 0))
                rest = max(limit - head - tail - keep_prefix, 0)
                ids = ids[:head] + body[:keep_prefix] + (body[len(body) - rest:] if rest else []) + ids[len(ids) - tail:]
            rows.append(list(ids))
        width = max(len(r) for r in rows)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        left = getattr(tok, "padding_side", "right") == "left"
        padded = [[pad_id] * (width - len(r)) + r if left else r + [pad_id] * (width - len(r)) for r in rows]
        mask = [[0] * (width - len(r)) + [1] * len(r) if left else [1] * len(r) + [0] * (width - len(r)) for r in rows]
        return {"input_ids": torch.tensor(padded, dtype=torch.long, device=self.device),
                "attention_mask": torch.tensor(mask, dtype=torch.long, device=self.device)}

    def full_token_lengths(self, texts: list[str]) -> list[int]:
        """Encoder tokens per text before truncation (special tokens included)."""
        ids = self.encoder_tokenizer([self.config.encoder_prefix + t for t in texts])["input_ids"]
        return [len(x) for x in ids]

    def token_lengths(self, texts: list[str], full: list[int] | None = None) -> list[int]:
        """Encoder tokens per text after truncation (for bucketing and cache sizing; either side);
        from `full` (full_token_lengths of the same texts) without tokenizing again when given."""
        self.check_encoder_length()
        full = self.full_token_lengths(texts) if full is None else full
        return [min(n, self.config.max_encoder_length) for n in full]

    def truncated(self, texts: list[str], full: list[int] | None = None) -> list[bool]:
        """Which texts are longer than max_encoder_length encoder tokens (and so are cut by `tokenize`);
        all False when the bridge reads no soft tokens (the encoder reads nothing). `full`: as in
        token_lengths."""
        if not getattr(self, "reads_soft_tokens", True):
            return [False] * len(texts)
        full = self.full_token_lengths(texts) if full is None else full
        return [n > self.config.max_encoder_length for n in full]

    def encoder_positions(self) -> int | None:
        """How many positions the encoder can read: its learned absolute position table (BERT, E5,
        XLM-R: less the offset RoBERTa-style models start at); None when it has no such limit
        (relative positions as in T5, sinusoidal ones as in NLLB)."""
        table = getattr(getattr(self.encoder, "embeddings", None), "position_embeddings", None)
        if not isinstance(table, torch.nn.Embedding):
            return None
        offset = table.padding_idx + 1 if table.padding_idx is not None else 0
        return table.num_embeddings - offset

    def prefix_length(self) -> int:
        """Encoder tokens of the encoder prefix (kept whatever is cut)."""
        prefix = self.config.encoder_prefix
        return len(self.encoder_tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0

    def check_encoder_length(self) -> None:
        """max_encoder_length may be raised up to the encoder's own limit, not beyond it, and must leave
        a token of text beside the special tokens and the encoder prefix (both kept whatever is cut)."""
        length = self.config.max_encoder_length
        if getattr(self, "_checked_encoder_length", None) == (length, self.config.encoder_prefix):
            return
        kept = self.encoder_tokenizer.num_special_tokens_to_add() + self.prefix_length()
        if length <= kept:
            raise ConfigError(f"max_encoder_length={length} leaves no room for text: the {self.config.encoder!r} tokenizer "
                              f"adds {self.encoder_tokenizer.num_special_tokens_to_add()} special token(s) and the "
                              f"encoder prefix takes {self.prefix_length()}; set max_encoder_length "
                              f"(--max-encoder-length) to at least {kept + 1}")
        limit = self.encoder_positions()
        if limit is not None and length > limit:
            raise ConfigError(f"max_encoder_length={length} is more than the encoder {self.config.encoder!r} can read: "
                              f"it has {limit} positions; set max_encoder_length (--max-encoder-length) to at most "
                              f"{limit}")
        self._checked_encoder_length = (length, self.config.encoder_prefix)

    def prompt_texts(self, texts: list[str]) -> list[str] | None:
        """What the LLM reads through its own tokenizer after the soft tokens (None: nothing)."""
        cfg = self.config
        if cfg.llm_input == "soft":
            return None
        if cfg.llm_input.endswith("text"):
            contents = [cfg.instruction.replace("{text}", t) if "{text}" in cfg.instruction else cfg.instruction + t
                        for t in texts]
        else:
            contents = [cfg.instruction] * len(texts)
        if not cfg.chat_template:
            return contents
        if not getattr(self.llm_tokenizer, "chat_template", None):
            raise ConfigError(f"chat_template=True, but the tokenizer of {cfg.llm!r} has no chat template")
        rendered = [self.llm_tokenizer.apply_chat_template([{"role": "user", "content": c}], tokenize=False,
                                                           add_generation_prompt=True) for c in contents]
        # Templates that open with the BOS token (Llama 3, Gemma) would give the LLM a second one: the
        # sequence already starts with [BOS] before the soft tokens.
        bos = self.llm_tokenizer.bos_token
        return [text[len(bos):] if bos and text.startswith(bos) else text for text in rendered]

    def prompt_ids(self, texts: list[str]) -> list[list[int]] | None:
        """The LLM prompt of every text as LLM token ids (None when the LLM reads only soft tokens)."""
        prompts = self.prompt_texts(texts)
        if prompts is None:
            return None
        return [list(ids) for ids in self.llm_tokenizer(prompts, add_special_tokens=False)["input_ids"]]

    def target_ids(self, targets: list[str], max_length: int | None = None) -> list[list[int]]:
        """Target strings as LLM token ids, each followed by EOS (the model learns to stop). A target
        longer than `max_length` tokens is cut there and gets no EOS (it did not end)."""
        ids = self.llm_tokenizer(list(targets), add_special_tokens=False)["input_ids"]
        return [list(t) + [self.eos_id] if max_length is None or len(t) <= max_length else list(t[:max_length])
                for t in ids]
