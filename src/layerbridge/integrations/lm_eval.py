"""A saved bridge as an EleutherAI lm-evaluation-harness model (`lm_eval.api.model.LM`).

What each side sees, for every request:
- the **encoder** reads the request's context (the harness's prompt, few-shot examples included);
  one longer than the bridge's `max_encoder_length` tokens (or the `max_encoder_length` given
  here, up to the encoder's own positions) keeps its END (`truncation_side="left"`): a few-shot
  prompt ends with its question. `truncation_report()` says, per task, how many contexts were cut;
- the **LLM** reads [BOS] + the soft tokens + the end boundary (+ the bridge's own LLM prompt,
  when it was trained with one: `llm_input`), then the continuation.
`loglikelihood` scores the continuation as layerbridge's rank scoring does: with the EOS the
bridge was trained to end its answers with (`add_eos=True`; pass `add_eos=False` for the plain
harness semantics), so its choice among multiple-choice options equals `layerbridge evaluate
--mode rank` on the same rows. `generate_until` decodes through `LayerBridge.generate`,
honouring `until` and `max_gen_toks`, with the decoding settings the bridge was saved with
(generation_config.json; `generation_record()` says which, lm-eval's results.json keeps them).
`loglikelihood_rolling` (perplexity of a whole text) is refused: a bridge conditions the LLM on
an encoded input, it is no language model of the text.
With `center_languages`, each task's contexts are one language: one mean per task, fitted on that
task's contexts alone, however many tasks the harness sends in one call.

Registered as the harness model `layerbridge`:
`lm_eval --model layerbridge --model_args bridge=runs/x,batch_size=16 --tasks ...`.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm.auto import tqdm

from layerbridge.errors import ConfigError


@register_model("layerbridge")
class LayerBridgeLM(LM):
    def __init__(self, bridge="", batch_size: int | str = 16, mixed_precision: str = "no", add_eos: bool | str = True,
                 max_gen_toks: int | str | None = None, cache_dir: str | None = None, device: str | None = None,
                 truncation_side: str = "left", max_encoder_length: int | str | None = None, **_ignored):
        super().__init__()
        from layerbridge.bridge import LayerBridge
        from layerbridge.bridge.config import TRUNCATION_SIDES
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
        saved = getattr(self.bridge, "generation_config", None)  # the decoding it was tuned with, if saved
        self.max_gen_toks = int(max_gen_toks) if max_gen_toks not in (None, "") else (
            saved.max_new_tokens if saved is not None else 256)
        if truncation_side not in TRUNCATION_SIDES:
            raise ConfigError(f"truncation_side must be one of {TRUNCATION_SIDES}, got {truncation_side!r}")
        self.encoder_settings = {"truncation_side": truncation_side}
        if max_encoder_length not in (None, ""):
            if int(max_encoder_length) < 1:
                raise ConfigError(f"max_encoder_length must be >= 1, got {max_encoder_length}")
            self.encoder_settings["max_encoder_length"] = int(max_encoder_length)
        with self._encoder_settings():
            self.bridge.check_encoder_length()  # refused here, before any request
        self.contexts: dict[str, set[str]] = defaultdict(set)  # per task: the contexts the encoder read
        self.cut: dict[str, set[str]] = defaultdict(set)  # per task: those longer than max_encoder_length

    @contextmanager
    def _encoder_settings(self):
        """The bridge's config with this model's truncation side (and max_encoder_length) while it reads."""
        config = self.bridge.config
        saved = {key: getattr(config, key) for key in self.encoder_settings}
        for key, value in self.encoder_settings.items():
            setattr(config, key, value)
        try:
            yield
        finally:
            for key, value in saved.items():
                setattr(config, key, value)

    def truncation_report(self) -> dict[str, dict]:
        """Per task: how many distinct contexts the encoder read and how many of them were cut."""
        with self._encoder_settings():
            side, length = self.bridge.config.truncation_side, self.bridge.config.max_encoder_length
        return {task: {"contexts": len(seen), "truncated": len(self.cut[task]), "max_encoder_length": length,
                       "truncation_side": side} for task, seen in self.contexts.items()}

    @staticmethod
    def _by_task(requests) -> dict[str, list[int]]:
        """Request indices per harness task, in order (one language mean per task)."""
        groups: dict[str, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            groups[str(getattr(request, "task_name", None))].append(i)
        return groups

    @contextmanager
    def _context(self, task: str, contexts: list[str]):
        """One task's requests: this model's truncation settings, bf16 autocast when asked, and with
        center_languages the task's contexts as one language (its own mean, never another task's)."""
        from layerbridge.evaluation.recipe import autocast

        unique = list(dict.fromkeys(contexts))
        with self._encoder_settings():
            self.contexts[task].update(unique)
            self.cut[task].update(c for c, cut in zip(unique, self.bridge.truncated(unique)) if cut)
            with autocast(self.bridge, self.mixed_precision), self.bridge.input_language(unique):
                yield

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(log p(continuation | context), continuation is greedy) per request, in request order."""
        pairs = [tuple(r.args) for r in requests]
        results: list[tuple[float, bool] | None] = [None] * len(pairs)
        with tqdm(total=len(pairs), disable=disable_tqdm, desc="loglikelihood (layerbridge)") as bar:
            for task, indices in self._by_task(requests).items():
                order = sorted(indices, key=lambda i: len(pairs[i][0]))  # similar lengths batch together
                with self._context(task, [pairs[i][0] for i in indices]):
                    for start in range(0, len(order), self.batch_size):
                        chunk = order[start : start + self.batch_size]
                        log_prob, greedy = self.bridge.score_pairs([pairs[i][0] for i in chunk],
                                                                   [pairs[i][1] for i in chunk], add_eos=self.add_eos)
                        for i, lp, g in zip(chunk, log_prob.tolist(), greedy.tolist()):
                            results[i] = (float(lp), bool(g))
                        bar.update(len(chunk))
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(
            "loglikelihood_rolling (perplexity tasks such as wikitext) is not defined for a bridge: the LLM is "
            "conditioned on the encoder's reading of an input and scores an answer to it, it does not model the "
            "input text itself; use multiple_choice or generate_until tasks")

    def generation_record(self) -> dict:
        """The decoding `generate_until` uses, for the results: the bridge's saved settings (else greedy),
        each request's `until` as its stop strings and its `max_gen_toks` (else this model's) as its budget."""
        saved = getattr(self.bridge, "generation_config", None)
        settings = self.bridge.generation_settings({"max_new_tokens": self.max_gen_toks, "stop_at_newline": False})
        settings = {k: v for k, v in settings.items() if k != "stop_strings"}
        return {**settings, "stop_strings": "each request's until",
                "source": "generation_config.json" if saved is not None else "defaults"}

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Continuations decoded as the bridge was saved to (generation_config.json: beams, no repeated
        n-grams, ...; else greedy), cut at the first of `until`, at most `max_gen_toks` tokens."""
        outputs: list[str | None] = [None] * len(requests)
        contexts = [r.args[0] for r in requests]
        with tqdm(total=len(requests), disable=disable_tqdm, desc="generate_until (layerbridge)") as bar:
            for task, indices in self._by_task(requests).items():
                with self._context(task, [contexts[i] for i in indices]):
                    for (until, max_tokens), group in self._by_decoding(requests, indices).items():
                        for start in range(0, len(group), self.batch_size):
                            chunk = group[start : start + self.batch_size]
                            texts = self.bridge.generate([contexts[i] for i in chunk], max_new_tokens=max_tokens,
                                                         stop_at_newline=False, stop_strings=list(until))
                            for i, text in zip(chunk, texts):
                                outputs[i] = text
                            bar.update(len(chunk))
        return outputs

    def _by_decoding(self, requests, indices: list[int]) -> dict[tuple, list[int]]:
        """Requests with the same decoding settings (stop strings, token budget) batch together."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i in indices:
            _, kwargs = requests[i].args
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            groups[(tuple(until), int(kwargs.get("max_gen_toks", self.max_gen_toks)))].append(i)
        return groups
