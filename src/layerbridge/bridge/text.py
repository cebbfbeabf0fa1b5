"""The bridge's text side: encoder tokenisation, the LLM prompt (instruction, raw text, chat
template) and target token ids. A mixin of `LayerBridge` (needs `config`, the two tokenizers,
`eos_id` and `device`)."""

from __future__ import annotations

import torch

from layerbridge.errors import ConfigError


class BridgeText:
    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Encoder token ids and mask (B, S), truncated to max_encoder_length, right-padded."""
        batch = self.encoder_tokenizer(
            [self.config.encoder_prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.config.max_encoder_length,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"].to(self.device), "attention_mask": batch["attention_mask"].to(self.device)}

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Encoder tokens per text after truncation (for bucketing and cache sizing)."""
        ids = self.encoder_tokenizer([self.config.encoder_prefix + t for t in texts], truncation=True,
                                     max_length=self.config.max_encoder_length)["input_ids"]
        return [len(x) for x in ids]

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
