"""A saved bridge as an EleutherAI lm-evaluation-harness model (`lm_eval.api.model.LM`).

What each side sees, for every request:
- the **encoder** reads the request's context (the harness's prompt, few-shot examples included),
  truncated to the bridge's `max_encoder_length` tokens;
- the **LLM** reads [BOS] + the soft tokens + the end boundary (+ the bridge's own LLM prompt,
  when it was trained with one: `llm_input`), then the continuation.
`loglikelihood` scores the continuation as layerbridge's rank scoring does: with the EOS the
bridge was trained to end its answers with (`add_eos=True`; pass `add_eos=False` for the plain
harness semantics), so its choice among multiple-choice options equals `layerbridge evaluate
--mode rank` on the same rows. `generate_until` decodes greedily through `LayerBridge.generate`,
honouring `until` and `max_gen_toks`. `loglikelihood_rolling` (perplexity of a whole text) is
refused: a bridge conditions the LLM on an encoded input, it is no language model of the text.

Registered as the harness model `layerbridge`:
`lm_eval --model layerbridge --model_args bridge=runs/x,batch_size=16 --tasks ...`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm.auto import tqdm

from layerbridge.errors import ConfigError


@register_model("layerbridge")
class LayerBridgeLM(LM):
    def __init__(self, bridge="", batch_size: int | str = 16, mixed_precision: str = "no", add_eos: bool | str = True,
                 max_gen_toks: int | str = 256, cache_dir: str | None = None, device: str | None = None, **_ignored):
        super().__init__()
        from layerbridge.bridge import LayerBridge
        from layerbridge.machine import inference_device

        if isinstance(bridge, (str, Path)):
            if not str(bridge):
                raise ConfigError("the layerbridge harness model needs bridge=FOLDER (a saved bridge)")
            bridge = LayerBridge.from_pretrained(bridge, cache_dir=cache_dir).to(device or inference_device())
        elif device:
            bridge = bridge.to(device)
        self.bridge = bridge.eval()
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 16  # "auto" is not supported: 16
        self.mixed_precision = mixed_precision
        self.add_eos = add_eos if isinstance(add_eos, bool) else str(add_eos).lower() in ("1", "true", "yes")
        self.max_gen_toks = int(max_gen_toks)

    def _context(self, texts: list[str]):
        """bf16 autocast when asked; center_languages: the contexts of the call are one language."""
        from contextlib import ExitStack

        from layerbridge.evaluation.recipe import autocast

        stack = ExitStack()
        stack.enter_context(autocast(self.bridge, self.mixed_precision))
        stack.enter_context(self.bridge.input_language(texts))
        return stack

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(log p(continuation | context), continuation is greedy) per request, in request order."""
        pairs = [tuple(r.args) for r in requests]
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))  # similar lengths batch together
        results: list[tuple[float, bool] | None] = [None] * len(pairs)
        with self._context(list(dict.fromkeys(c for c, _ in pairs))), \
                tqdm(total=len(pairs), disable=disable_tqdm, desc="loglikelihood (layerbridge)") as bar:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                log_prob, greedy = self.bridge.score_pairs([pairs[i][0] for i in chunk], [pairs[i][1] for i in chunk],
                                                           add_eos=self.add_eos)
                for i, lp, g in zip(chunk, log_prob.tolist(), greedy.tolist()):
                    results[i] = (float(lp), bool(g))
                bar.update(len(chunk))
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(
            "loglikelihood_rolling (perplexity tasks such as wikitext) is not defined for a bridge: the LLM is "
            "conditioned on the encoder's reading of an input and scores an answer to it, it does not model the "
            "input text itself; use multiple_choice or generate_until tasks")

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy continuations, cut at the first of `until`, at most `max_gen_toks` tokens."""
        groups: dict[tuple, list[int]] = defaultdict(list)  # same decoding settings batch together
        for i, request in enumerate(requests):
            _, kwargs = request.args
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            groups[(tuple(until), int(kwargs.get("max_gen_toks", self.max_gen_toks)))].append(i)
        outputs: list[str | None] = [None] * len(requests)
        contexts = [r.args[0] for r in requests]
        with self._context(list(dict.fromkeys(contexts))), \
                tqdm(total=len(requests), disable=disable_tqdm, desc="generate_until (layerbridge)") as bar:
            for (until, max_tokens), indices in groups.items():
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    texts = self.bridge.generate([contexts[i] for i in chunk], max_new_tokens=max_tokens,
                                                 stop_at_newline=False, stop_strings=list(until))
                    for i, text in zip(chunk, texts):
                        outputs[i] = text
                    bar.update(len(chunk))
        return outputs
