"""What a trained bridge does at inference: score candidates (one LLM pass per text, its KV cache
shared by the candidates), score (text, continuation) pairs for the evaluation harness, generate
with transformers' `generate`, and show each token's layer weights. A mixin of `LayerBridge`;
every public method runs without gradients and in eval mode (`parts.inference`).

Also the KV-cache shims: the keyword transformers calls the cache by changed within 5.x.
"""

from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F

from layerbridge.bridge.lm_head import float32_head

from layerbridge.bridge.parts import inference
from layerbridge.errors import ConfigError


# What `generate` does for a setting neither given nor saved with the bridge (as before bridges kept theirs).
GENERATE_DEFAULTS = {"max_new_tokens": 32, "stop_at_newline": True, "stop_strings": None, "num_beams": 1,
                     "do_sample": False, "temperature": 1.0, "top_p": 1.0, "seed": None, "repetition_penalty": 1.0,
                     "no_repeat_ngram_size": 0, "stop_after_text": True}


class BridgeInference:
    @inference
    def score(self, texts: list[str], candidates: list[str], shared_prefix: bool = True) -> torch.Tensor:
        """log p(candidate + EOS | text) for every text and candidate: (B, C).

        With `shared_prefix` the prefix ([BOS] + soft tokens + boundary) runs through the LLM once
        per text and its KV cache is shared by all candidates; otherwise every (text, candidate)
        pair is a full sequence of one batched pass. Both give the same scores."""
        soft, mask, states, states_mask = self.encode_all(texts)
        with self.injection.attached(self.llm, states, states_mask):
            return self._score(soft, mask, texts, candidates, shared_prefix)

    def _score(self, soft, mask, texts: list[str], candidates: list[str], shared_prefix: bool) -> torch.Tensor:
        prompt = self.prompt_ids(texts)
        B, C = len(texts), len(candidates)
        cand_ids = self.target_ids(candidates)
        if not shared_prefix:
            rep = lambda x: None if x is None else x.repeat_interleave(C, dim=0)  # noqa: E731  (B*C, ...): text-major
            inputs = self.llm_inputs(rep(soft), rep(mask), cand_ids * B,
                                     None if prompt is None else [p for p in prompt for _ in range(C)])
            token_lp = self.target_log_probs(inputs)  # (N,)
            return torch.zeros(B * C, device=token_lp.device).index_add(0, inputs.target_rows, token_lp).view(B, C)

        prefix = self.llm_inputs(soft, mask, None, prompt)  # (B, P, H)
        out = self.llm_hidden(prefix, use_cache=True)
        first = torch.log_softmax(self.logits(out.last_hidden_state[:, -1]), dim=-1)  # (B, V)
        scores = first[:, [ids[0] for ids in cand_ids]].clone()  # (B, C): each candidate's first token
        M = max(len(ids) for ids in cand_ids)
        if M == 1:
            return scores
        # The rest of every candidate, fed after the shared prefix: token j predicts token j + 1.
        cont = torch.tensor([ids[:-1] + [self.eos_id] * (M - len(ids)) for ids in cand_ids], device=self.device)
        cache = self.kv_cache(out)
        cache.batch_repeat_interleave(C)  # (B*C, ...) text-major, like the rows below
        cont = cont.repeat(B, 1)  # (B*C, M-1)
        mask = torch.cat([prefix.attention_mask.repeat_interleave(C, 0), torch.ones_like(cont)], dim=1)
        positions = prefix.position_ids[:, -1:].repeat_interleave(C, 0) + torch.arange(1, M, device=self.device)
        hidden = self.continue_llm(cont, mask, positions, cache).last_hidden_state
        rows, cols, targets = [], [], []
        for b in range(B):
            for c, ids in enumerate(cand_ids):
                for j in range(len(ids) - 1):
                    rows.append(b * C + c), cols.append(j), targets.append(ids[j + 1])
        rows_t = torch.tensor(rows, device=self.device)
        picked = hidden[rows_t, torch.tensor(cols, device=self.device)]  # (N, H)
        token_lp = -F.cross_entropy(self.logits(picked), torch.tensor(targets, device=self.device), reduction="none")
        return scores.view(-1).index_add(0, rows_t, token_lp).view(B, C)

    @inference
    def score_pairs(self, texts: list[str], continuations: list[str], add_eos: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each (text, continuation) pair: log p(continuation [+ EOS] | text) (B,) and whether the
        continuation is what greedy decoding would write, token by token (B,) bool. One batched pass;
        the same numbers as `score` for the same strings (the evaluation harness's loglikelihood)."""
        if add_eos:
            ids = self.target_ids(continuations)
        else:
            ids = [list(t) for t in self.llm_tokenizer(list(continuations), add_special_tokens=False)["input_ids"]]
        soft, mask, states, states_mask = self.encode_all(texts)
        inputs = self.llm_inputs(soft, mask, ids, self.prompt_ids(texts))
        with self.injection.attached(self.llm, states, states_mask):
            logits = self.target_logits(inputs)  # (N, V)
        token_lp = -F.cross_entropy(logits, inputs.target_ids, reduction="none")  # (N,)
        misses = (logits.argmax(-1) != inputs.target_ids).float()
        B = len(texts)
        log_prob = torch.zeros(B, device=token_lp.device).index_add(0, inputs.target_rows, token_lp)
        greedy = torch.zeros(B, device=token_lp.device).index_add(0, inputs.target_rows, misses) == 0
        return log_prob, greedy

    @inference
    def generate(self, texts: list[str], max_new_tokens: int | None = None, stop_at_newline: bool | None = None, *,
                 stop_strings: list[str] | None = None, num_beams: int | None = None, do_sample: bool | None = None,
                 temperature: float | None = None, top_p: float | None = None, seed: int | None = None,
                 repetition_penalty: float | None = None, no_repeat_ngram_size: int | None = None,
                 stop_after_text: bool | None = None) -> list[str]:
        """Generate for a batch with `transformers`' `generate` over the assembled input embeddings (KV
        cache, left padding): greedy by default, beam search (`num_beams`) or sampling (`do_sample`,
        `temperature`, `top_p`, `seed`); `repetition_penalty` and `no_repeat_ngram_size` fight the loops
        a small LLM falls into. Each row stops at EOS or at a stop string (a newline too with
        `stop_at_newline`); the text is cut before the first stop string and stripped. With
        `stop_after_text` a stop string counts only once the row has written something other than
        whitespace (an LLM that opens with a newline is not cut to an empty answer).
        A setting not given is the bridge's saved one (`generation_config`, saved beside it as
        generation_config.json), else greedy, 32 new tokens, stopping at a newline (GENERATE_DEFAULTS)."""
        given = {"max_new_tokens": max_new_tokens, "stop_at_newline": stop_at_newline, "stop_strings": stop_strings,
                 "num_beams": num_beams, "do_sample": do_sample, "temperature": temperature, "top_p": top_p,
                 "seed": seed, "repetition_penalty": repetition_penalty,
                 "no_repeat_ngram_size": no_repeat_ngram_size, "stop_after_text": stop_after_text}
        return self._generate(texts, **self.generation_settings(given))

    def generation_settings(self, given: dict | None = None) -> dict:
        """`generate`'s keyword arguments: those `given` (not None), else the bridge's saved decoding
        settings, else GENERATE_DEFAULTS (a bridge saved without generation_config.json)."""
        saved = getattr(self, "generation_config", None)
        settings = dict(GENERATE_DEFAULTS if saved is None else saved.generate_kwargs())
        settings.update({k: v for k, v in (given or {}).items() if v is not None})
        return settings

    def _generate(self, texts: list[str], *, max_new_tokens: int, stop_at_newline: bool, stop_strings, num_beams: int,
                  do_sample: bool, temperature: float, top_p: float, seed: int | None, repetition_penalty: float,
                  no_repeat_ngram_size: int, stop_after_text: bool) -> list[str]:
        from transformers import GenerationConfig, StoppingCriteriaList  # only where a bridge generates

        from layerbridge.bridge.stopping import StopAfterText

        stops = list(stop_strings or []) + (["\n"] if stop_at_newline else [])
        soft, mask, states, states_mask = self.encode_all(texts)
        prefix = self.llm_inputs(soft, mask, None, self.prompt_ids(texts))
        pad = self.llm_tokenizer.pad_token_id
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=do_sample, eos_token_id=self.eos_id,
            repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
            pad_token_id=self.eos_id if pad is None else pad,
            **({"temperature": temperature, "top_p": top_p} if do_sample else {}),
            **({"stop_strings": stops} if stops and not stop_after_text else {}))
        if seed is not None:
            torch.manual_seed(seed)
        extra = {}
        if stops and stop_after_text:
            extra["stopping_criteria"] = StoppingCriteriaList([StopAfterText(stops, self.llm_tokenizer)])
        elif stops:
            extra["tokenizer"] = self.llm_tokenizer
        with self.injection.attached(self.llm, states, states_mask), float32_head(self.llm):
            out = self.llm.generate(inputs_embeds=prefix.inputs_embeds, attention_mask=prefix.attention_mask,
                                    generation_config=config, **extra)
        answers = []
        for row in out.tolist():  # only the new tokens (the prompt was given as embeddings)
            if self.eos_id in row:
                row = row[: row.index(self.eos_id)]
            text = self.llm_tokenizer.decode(row, skip_special_tokens=True)
            text = text.lstrip() if stop_after_text else text
            for stop in stops:
                text = text.split(stop)[0]
            answers.append(text.strip())
        return answers

    @inference
    def layer_weights(self, texts: list[str]) -> list[dict]:
        """Per text: its encoder tokens and their layer weights (S_i, L), for inspection."""
        if not self.reads_soft_tokens:
            raise ConfigError("llm_input='instruction+text': the LLM reads no encoder layers")
        enc = self.tokenize(texts)
        _, _, weights = self.soft_tokens(self.encoder_states(**enc), enc["attention_mask"])
        result = []
        for b in range(len(texts)):
            real = enc["attention_mask"][b].bool()
            ids = enc["input_ids"][b][real].tolist()
            result.append({
                "tokens": self.encoder_tokenizer.convert_ids_to_tokens(ids),
                "layers": self.layer_indices,
                "weights": weights[b][real].cpu(),
            })
        return result

    # ----------------------------------------------------------------- KV cache (transformers 5.x shims)
    def continue_llm(self, token_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, cache):
        """Feed more tokens (B, T) after a cached prefix; the LLM body's output, cache extended."""
        return self.llm.base_model(
            inputs_embeds=self.llm.get_input_embeddings()(token_ids),
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{self.cache_kwarg: cache},
        )

    @functools.cached_property
    def cache_kwarg(self) -> str:
        """transformers >= 5.24 calls the KV cache `cache` (`past_key_values` is deprecated, removed in
        5.40); earlier 5.x releases only know `past_key_values`."""
        return "cache" if "cache" in inspect.signature(self.llm.base_model.forward).parameters else "past_key_values"

    @staticmethod
    def kv_cache(out):
        """The KV cache of an LLM output, under either name (see `cache_kwarg`)."""
        cache = getattr(out, "cache", None)
        return cache if cache is not None else out.past_key_values

