"""The bridge: multilingual encoder -> layer fusion -> projector -> frozen LLM.

    texts ──encoder (frozen)──> hidden states of all layers          (B, S, L, D)
          ──fusion──────────> one vector per token, layer weights     (B, S, D), (B, S, L)
          ──projector───────> soft tokens in the LLM's embedding space (B, S', H)
    LLM input: [BOS] + soft tokens + [end boundary] + [LLM prompt] + target tokens, left-padded
          ──LLM (frozen)────> logits only where a target token is predicted  (N, V)

S' = S (one soft token per encoder token), or K with the perceiver projector. The LLM prompt
(config.llm_input) is optional: an instruction and/or the raw text, read through the LLM's own
tokenizer and embeddings, never a target. An injection (config.injection) other than `input` also
reaches inside the LLM while it runs: hooks attached for the call only (layerbridge.injection).

Only the fusion, the projector, the injection's weights and the end-boundary vector are trained
(and the encoder when `freeze_encoder=False`). The LLM is always frozen; gradients reach the bridge through
`inputs_embeds`. Frozen modules stay in eval mode (no dropout) even when the bridge trains.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from layerbridge.bridge.attention_kernel import same_kernel_on_recompute, training_attention
from layerbridge.bridge.base_models import check_base_models
from layerbridge.bridge.config import BridgeConfig
from layerbridge.bridge.lm_head import lm_head_logits
from layerbridge.bridge.projector import build_projector
from layerbridge.bridge.sequence import LLMInputs, assemble
from layerbridge.errors import ConfigError
from layerbridge.fusion import build_fusion, fusion_config
from layerbridge.injection import build_injection
from layerbridge.fusion.base import weight_entropy


def inference(method):
    """No gradients and eval mode (no dropout) for the call, the previous mode restored after it:
    scoring, generating or inspecting a bridge in the middle of training gives what it gives after."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        was_training = self.training
        self.train(False)
        try:
            with torch.no_grad():
                return method(self, *args, **kwargs)
        finally:
            self.train(was_training)
    return wrapper


@dataclass
class BridgeOutput:
    loss: torch.Tensor  # () mean cross-entropy over all target tokens of the batch
    example_loss: torch.Tensor  # (B,) mean cross-entropy over each example's target tokens
    layer_weights: torch.Tensor | None  # (B, S, L) per-token layer weights (0 on padding)
    weight_entropy: torch.Tensor | None = None  # (B,) mean entropy of each example's per-token layer weights
    example_penalty: torch.Tensor | None = None  # (B,) the fusion's regulariser, added to the loss in training


def model_dims(model: nn.Module) -> tuple[int, int]:
    """(number of transformer layers, hidden size) of an encoder or LLM, from its config."""
    config = model.config
    layers = getattr(config, "num_hidden_layers", None)
    layers = getattr(config, "num_layers", None) if layers is None else layers
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    if layers is None or not hidden:
        raise ConfigError(f"cannot read layer count / hidden size from {type(config).__name__}")
    return int(layers), int(hidden)


def load_models(config: BridgeConfig, *, cache_dir=None, dtype: torch.dtype = torch.float32) -> tuple:
    """(encoder, encoder tokenizer, llm, llm tokenizer) for the names in `config`, held in `dtype`; an
    encoder that trains (freeze_encoder=False) in float32 whatever `dtype`: bf16 weights would round
    most Adam updates away (8-bit mantissa), and autocast computes in bf16 anyway."""
    from layerbridge.sources import load_encoder, load_llm

    encoder_dtype = dtype if config.freeze_encoder else torch.float32
    encoder, encoder_tokenizer = load_encoder(config.encoder, cache_dir=cache_dir, dtype=encoder_dtype)
    llm, llm_tokenizer = load_llm(config.llm, cache_dir=cache_dir, dtype=dtype)
    return encoder, encoder_tokenizer, llm, llm_tokenizer


class LayerBridge(nn.Module):
    def __init__(self, config: BridgeConfig, encoder, encoder_tokenizer, llm, llm_tokenizer, *,
                 strict_base_models: bool = False):
        super().__init__()
        enc_layers, enc_hidden = model_dims(encoder)
        _, llm_hidden = model_dims(llm)
        for name, expected, found in (
            ("encoder_num_layers", config.encoder_num_layers, enc_layers),
            ("encoder_hidden_size", config.encoder_hidden_size, enc_hidden),
            ("llm_hidden_size", config.llm_hidden_size, llm_hidden),
        ):
            if expected is not None and expected != found:
                raise ConfigError(
                    f"the bridge config says {name}={expected}, but the models loaded for "
                    f"encoder={config.encoder!r} / llm={config.llm!r} have {found}: "
                    "these are not the models this bridge was trained with"
                )
        check_base_models(config, encoder, llm, strict=strict_base_models)  # records, or compares, their weights
        config.encoder_num_layers, config.encoder_hidden_size = enc_layers, enc_hidden
        config.llm_hidden_size = llm_hidden
        self.config = config
        self.encoder, self.encoder_tokenizer = encoder, encoder_tokenizer
        self.llm, self.llm_tokenizer = llm, llm_tokenizer
        self.layer_indices = config.layer_indices(enc_layers)
        if not self.layer_indices:
            raise ConfigError(f"layers={config.layers!r} selects no hidden state of {config.encoder!r} "
                              f"(it has {enc_layers} layers; 0 = embeddings)")
        if fusion_config(config.fusion, config.fusion_options).reads_last_layer_only and config.injection == "input":
            self.layer_indices = self.layer_indices[-1:]  # stacking (and caching) the others would be waste

        self.fusion = build_fusion(
            config.fusion, config.fusion_options, num_layers=len(self.layer_indices), hidden_size=enc_hidden
        )
        self.projector = build_projector(config.projector, enc_hidden, llm_hidden, init=config.projector_init,
                                         options=config.projector_options)
        self.end_boundary = nn.Parameter(torch.zeros(llm_hidden))  # (H,)
        # Optional soft prompt after BOS (the LLM-alone baseline uses one): n learned vectors,
        # initialised from the embeddings of random vocabulary tokens (prompt tuning's usual start).
        self.soft_prompt = None
        if config.soft_prompt_length:
            table = llm.get_input_embeddings().weight
            picks = torch.randint(0, table.shape[0], (config.soft_prompt_length,))
            self.soft_prompt = nn.Parameter(table[picks].detach().clone().float())  # (n, H)

        # built last: the fusion, projector and soft prompt start as they would without it (same seed)
        self.injection = build_injection(config.injection, config.injection_options, llm=llm,
                                         num_layers=len(self.layer_indices), hidden_size=enc_hidden)
        self.input_mean = None  # (L, D): the mean state of the current input language (center_languages)
        if config.center_languages:
            self.register_buffer("source_mean", torch.zeros(len(self.layer_indices), enc_hidden))  # (L, D) English

        # The bridge's own parts live where the LLM does: models already on an accelerator (as
        # `compare` leaves them after a first prepared training) get a bridge on it too, and every
        # input tensor follows `self.device`.
        self.move_own_parts(next(llm.parameters()).device)
        self.llm.requires_grad_(False)
        self.encoder.requires_grad_(not config.freeze_encoder)
        self.checkpointed_layers: list[nn.Module] = []  # LLM layers recomputed in the backward (checkpoint_llm_layers)
        self.bos_id = llm_tokenizer.bos_token_id if config.use_bos else None
        self.eos_id = llm_tokenizer.eos_token_id
        if self.eos_id is None:
            raise ConfigError(f"the LLM tokenizer of {config.llm!r} has no EOS token")
        self.train(False)

    # ----------------------------------------------------------------- modes and parameters
    def train(self, mode: bool = True) -> "LayerBridge":
        super().train(mode)
        self.llm.eval()  # frozen: never dropout
        if self.config.freeze_encoder:
            self.encoder.eval()
        return self

    def checkpoint_llm_layers(self) -> None:
        """Gradient checkpointing of the frozen LLM, through transformers: while this bridge trains
        through it (`llm_checkpointing`), each decoder layer keeps only its input and recomputes the
        rest during the backward (memory for compute). The LLM object is left as it was outside
        those calls, so other bridges sharing it (compare, benchmarks) are unaffected."""
        from transformers.modeling_layers import GradientCheckpointingLayer

        if self.config.injection != "input":
            raise ConfigError("gradient checkpointing recomputes the LLM's layers after the bridge has taken its "
                              f"{self.config.injection} hooks off them; it works with --injection input only")
        kwargs = {"use_reentrant": False, "context_fn": same_kernel_on_recompute}
        try:
            if hasattr(self.llm, "activation_checkpointing_enable"):  # transformers' current name
                self.llm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                self.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        except ValueError as err:  # the model's class does not support it
            raise ConfigError(f"--gradient-checkpointing: the LLM {self.config.llm!r} cannot be checkpointed ({err})") from err
        self.llm.disable_input_require_grads()  # only reentrant checkpointing needs its inputs to require grad
        self.checkpointed_layers = [m for m in self.llm.modules()
                                    if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing]
        if not self.checkpointed_layers:
            raise ConfigError(f"the LLM {self.config.llm!r} has no layers transformers can checkpoint")
        for layer in self.checkpointed_layers:
            layer.gradient_checkpointing = False  # on only inside llm_checkpointing

    def checkpoints_llm(self) -> bool:
        """This call's LLM layers are checkpointed: checkpoint_llm_layers, training, gradients on."""
        return bool(self.checkpointed_layers) and self.training and torch.is_grad_enabled()

    @contextlib.contextmanager
    def llm_checkpointing(self):
        """The checkpointed layers recompute during this call's backward when the bridge trains
        with gradients on. transformers checkpoints a layer whose own `gradient_checkpointing` and
        `training` flags are set: only those two are set (its dropouts stay off), and restored after
        (the recomputation calls the layer's forward itself, not these flags)."""
        layers = self.checkpointed_layers if self.checkpoints_llm() else []
        saved = [(layer.gradient_checkpointing, layer.training) for layer in layers]
        for layer in layers:
            layer.gradient_checkpointing = layer.training = True
        try:
            yield
        finally:
            for layer, (checkpointing, training) in zip(layers, saved):
                layer.gradient_checkpointing, layer.training = checkpointing, training

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a saved bridge holds: everything but the frozen models."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(self.frozen_prefixes)}

    @property
    def frozen_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of the frozen models (never saved with the bridge)."""
        return ("llm.",) + (("encoder.",) if self.config.freeze_encoder else ())

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per part, and the frozen total."""
        count = lambda module: sum(p.numel() for p in module.parameters() if p.requires_grad)  # noqa: E731
        counts = {
            "fusion": count(self.fusion),
            "projector": count(self.projector),
            "injection": count(self.injection),
            "end_boundary": self.end_boundary.numel(),
            "soft_prompt": 0 if self.soft_prompt is None else self.soft_prompt.numel(),
            "encoder (unfrozen)": count(self.encoder),
        }
        counts["trainable"] = sum(counts.values())
        counts["frozen"] = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return counts

    @property
    def device(self) -> torch.device:
        return self.end_boundary.device

    def move_own_parts(self, device: torch.device) -> None:
        """Move what the bridge trains and keeps (fusion, projector, injection, boundary, soft prompt,
        English mean) to `device`; the encoder and LLM stay where they are."""
        for module in (self.fusion, self.projector, self.injection):
            module.to(device)
        for name in ("end_boundary", "soft_prompt"):
            param = getattr(self, name)
            if param is not None and param.device != device:
                setattr(self, name, nn.Parameter(param.detach().to(device), requires_grad=param.requires_grad))
        if getattr(self, "source_mean", None) is not None:
            self.register_buffer("source_mean", self.source_mean.to(device))

    # ----------------------------------------------------------------- 1. encoder
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

    def encoder_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The selected hidden states of every token, stacked by layer: (B, S, L, D)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, return_dict=True)
        states = torch.stack([out.hidden_states[i] for i in self.layer_indices], dim=2)  # (B, S, L, D)
        if self.config.normalize == "layernorm":
            states = F.layer_norm(states, states.shape[-1:])
        elif self.config.normalize == "scale":
            rms = states.pow(2).mean(-1, keepdim=True).clamp_min(1e-12).sqrt()  # (B, S, L, 1)
            states = states * (rms[:, :, -1:] / rms)
        if self.input_mean is not None:  # center_languages: this language's mean moved onto English's
            states = states + (self.source_mean - self.input_mean).to(states.dtype)
        return states

    @inference
    def mean_state(self, texts: list[str], batch_size: int = 32) -> torch.Tensor:
        """Mean of the selected (uncentred) layer states over the real tokens of `texts`: (L, D)."""
        saved, self.input_mean = self.input_mean, None
        total, count = 0.0, 0
        try:
            for start in range(0, len(texts), batch_size):
                enc = self.tokenize(texts[start : start + batch_size])
                states = self.encoder_states(**enc).float()  # (B, S, L, D)
                mask = enc["attention_mask"].float()[:, :, None, None]
                total = total + (states * mask).sum((0, 1))
                count += int(enc["attention_mask"].sum())
        finally:
            self.input_mean = saved
        return total / max(count, 1)

    def fit_source_mean(self, texts: list[str]) -> None:
        """center_languages: the English (training-language) mean state, saved with the bridge."""
        self.source_mean.copy_(self.mean_state(texts))

    @contextlib.contextmanager
    def input_language(self, texts: list[str]):
        """Inside this block the inputs are taken to be in the language of `texts` (center_languages:
        their mean state is moved onto the English one). Without center_languages it does nothing."""
        if not self.config.center_languages or not self.reads_soft_tokens:
            yield self
            return
        self.input_mean = self.mean_state(texts)
        try:
            yield self
        finally:
            self.input_mean = None

    # ----------------------------------------------------------------- 2-3. fusion + projector
    def soft_tokens(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fuse the layers and project: soft tokens (B, S', H), their mask (B, S') and the layer
        weights (B, S, L). S' = S (one soft token per encoder token), or K for a compressing
        projector (perceiver)."""
        fused, weights = self.fusion(states.to(self.end_boundary.dtype), mask)  # (B, S, D), (B, S, L)
        if getattr(self.projector, "compresses", False):
            soft, soft_mask = self.projector(fused, mask)  # (B, K, H), (B, K)
            return soft, soft_mask, weights
        return self.projector(fused), mask, weights  # (B, S, H)

    @property
    def reads_soft_tokens(self) -> bool:
        return self.config.llm_input != "instruction+text"

    def encode(self, texts: list[str]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Soft tokens (B, S', H) and their mask (B, S') for raw texts; (None, None) for the LLM alone."""
        return self.encode_all(texts)[:2]

    def encode_all(self, texts: list[str]) -> tuple[torch.Tensor | None, ...]:
        """(soft tokens, their mask, encoder states (B, S, L, D), encoder mask (B, S)); Nones for the
        LLM alone. The states feed the injection while the LLM runs (`self.injection.attached`)."""
        if not self.reads_soft_tokens:
            return None, None, None, None
        enc = self.tokenize(texts)
        states = self.encoder_states(**enc)
        soft, soft_mask, _ = self.soft_tokens(states, enc["attention_mask"])
        return soft, soft_mask, states, enc["attention_mask"]

    # ----------------------------------------------------------------- 4. the LLM prompt
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
        return [self.llm_tokenizer.apply_chat_template([{"role": "user", "content": c}], tokenize=False,
                                                       add_generation_prompt=True) for c in contents]

    def prompt_ids(self, texts: list[str]) -> list[list[int]] | None:
        """The LLM prompt of every text as LLM token ids (None when the LLM reads only soft tokens)."""
        prompts = self.prompt_texts(texts)
        if prompts is None:
            return None
        return [list(ids) for ids in self.llm_tokenizer(prompts, add_special_tokens=False)["input_ids"]]

    # ----------------------------------------------------------------- 5. the LLM
    def target_ids(self, targets: list[str], max_length: int | None = None) -> list[list[int]]:
        """Target strings as LLM token ids, each followed by EOS (the model learns to stop). A target
        longer than `max_length` tokens is cut there and gets no EOS (it did not end)."""
        ids = self.llm_tokenizer(list(targets), add_special_tokens=False)["input_ids"]
        return [list(t) + [self.eos_id] if max_length is None or len(t) <= max_length else list(t[:max_length])
                for t in ids]

    def llm_inputs(self, soft: torch.Tensor | None, mask: torch.Tensor | None, target_ids: list[list[int]] | None,
                   prompt_ids: list[list[int]] | None = None) -> LLMInputs:
        embed = self.llm.get_input_embeddings()
        dtype = embed.weight.dtype
        if soft is not None and self.soft_prompt is not None:  # (B, n + S, H): the prompt goes first, always "real"
            B = soft.shape[0]
            soft = torch.cat([self.soft_prompt.to(soft.dtype).expand(B, -1, -1), soft], dim=1)
            mask = torch.cat([torch.ones(B, self.soft_prompt.shape[0], dtype=mask.dtype, device=mask.device), mask], 1)
        # through the embedding module, not its weight: some families scale there (Gemma 3: x sqrt(H))
        bos = None if self.bos_id is None else embed(torch.tensor([self.bos_id], device=self.device))[0]
        as_embeds = lambda rows: None if rows is None else [embed(torch.tensor(ids, device=self.device, dtype=torch.long))  # noqa: E731
                                                            for ids in rows]
        return assemble(None if soft is None else soft.to(dtype), mask, self.end_boundary.to(dtype), bos,
                        as_embeds(target_ids), target_ids, as_embeds(prompt_ids))

    def llm_hidden(self, inputs: LLMInputs, **kwargs):
        """The LLM body (no LM head) over the assembled embeddings; no KV cache unless asked for."""
        with self.llm_checkpointing(), self.attention_kernel_context(inputs):
            return self.llm.base_model(
                inputs_embeds=inputs.inputs_embeds,
                attention_mask=inputs.attention_mask,
                position_ids=inputs.position_ids,
                **{"use_cache": False, **kwargs},
            )

    def attention_kernel_context(self, inputs: LLMInputs):
        """The SDPA kernel of this LLM call: the math kernel for CPU bf16 training steps
        (bridge.attention_kernel), else torch's choice."""
        return training_attention(inputs.inputs_embeds, self.llm.config, self.checkpoints_llm())

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

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """LM head on the given positions only (N, H) -> (N, V), in float32 (bridge.lm_head)."""
        return lm_head_logits(self.llm, hidden)

    def target_logits(self, inputs: LLMInputs) -> torch.Tensor:
        """The LLM's logits at the positions that predict a target token, and only there: (N, V)."""
        hidden = self.llm_hidden(inputs).last_hidden_state  # (B, T, H)
        return self.logits(hidden[inputs.target_rows, inputs.target_positions])  # (N, V)

    def target_log_probs(self, inputs: LLMInputs) -> torch.Tensor:
        """log p(target token | everything before it) for every target token: (N,)."""
        return -F.cross_entropy(self.target_logits(inputs), inputs.target_ids, reduction="none")

    # ----------------------------------------------------------------- public API
    def forward(
        self,
        target_ids: list[list[int]],
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_states: torch.Tensor | None = None,
        prompt_ids: list[list[int]] | None = None,
        label_smoothing: float = 0.0,
    ) -> BridgeOutput:
        """Loss on the target tokens only. Give the encoder inputs, or precomputed
        `encoder_states` (B, S, L, D) with their `attention_mask`; `prompt_ids` is the LLM prompt of
        each example (`prompt_ids(texts)`), required when the config's llm_input has one.
        `label_smoothing` > 0: each target token's cross-entropy against a target smoothed over the
        vocabulary (training only; scores stay plain log-probabilities)."""
        if (prompt_ids is None) != (self.config.llm_input == "soft"):
            raise ConfigError(f"llm_input={self.config.llm_input!r}: pass prompt_ids=bridge.prompt_ids(texts)"
                              if prompt_ids is None else "llm_input='soft' reads no prompt_ids")
        soft, soft_mask, weights = None, None, None
        if self.reads_soft_tokens:
            if encoder_states is None:
                with record_function("layerbridge: encoder"):
                    encoder_states = self.encoder_states(input_ids, attention_mask)
            with record_function("layerbridge: fusion + projector"):
                soft, soft_mask, weights = self.soft_tokens(encoder_states, attention_mask)
        with record_function("layerbridge: assemble LLM input"):
            inputs = self.llm_inputs(soft, soft_mask, target_ids, prompt_ids)
        with record_function("layerbridge: LLM forward + target logits"), \
                self.injection.attached(self.llm, encoder_states, attention_mask):  # phases for torch.profiler
            if label_smoothing:
                nll = F.cross_entropy(self.target_logits(inputs), inputs.target_ids, reduction="none",
                                      label_smoothing=label_smoothing)  # (N,)
            else:
                nll = -self.target_log_probs(inputs)  # (N,)
        B = len(target_ids)
        sums = torch.zeros(B, device=nll.device).index_add(0, inputs.target_rows, nll)
        counts = torch.tensor([len(t) for t in target_ids], device=nll.device, dtype=nll.dtype)
        entropy = penalty = None
        if weights is not None:
            entropy = weight_entropy(weights, attention_mask)  # (B,)
            penalty = self.fusion.penalty(entropy)
        return BridgeOutput(loss=nll.mean(), example_loss=sums / counts, layer_weights=weights,
                            weight_entropy=entropy, example_penalty=penalty)

    def loss(self, texts: list[str], targets: list[str]) -> BridgeOutput:
        """Convenience: the loss of producing `targets` (strings) for `texts`."""
        encoded = self.tokenize(texts) if self.reads_soft_tokens else {}
        return self(self.target_ids(targets), prompt_ids=self.prompt_ids(texts), **encoded)

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
    def generate(self, texts: list[str], max_new_tokens: int = 32, stop_at_newline: bool = True, *,
                 stop_strings: list[str] | None = None, num_beams: int = 1, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, seed: int | None = None,
                 repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                 stop_after_text: bool = True) -> list[str]:
        """Generate for a batch with `transformers`' `generate` over the assembled input embeddings (KV
        cache, left padding): greedy by default, beam search (`num_beams`) or sampling (`do_sample`,
        `temperature`, `top_p`, `seed`); `repetition_penalty` and `no_repeat_ngram_size` fight the loops
        a small LLM falls into. Each row stops at EOS or at a stop string (a newline too with
        `stop_at_newline`); the text is cut before the first stop string and stripped. With
        `stop_after_text` a stop string counts only once the row has written something other than
        whitespace (an LLM that opens with a newline is not cut to an empty answer)."""
        from transformers import GenerationConfig, StoppingCriteriaList

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
        with self.injection.attached(self.llm, states, states_mask):
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

    # ----------------------------------------------------------------- building and saving
    @classmethod
    def from_config(cls, config: BridgeConfig, *, cache_dir: str | Path | None = None, dtype: torch.dtype = torch.float32) -> "LayerBridge":
        """Load the encoder and LLM the config names (built-in, folder, GGUF or hub id) and build a fresh bridge."""
        return cls(config, *load_models(config, cache_dir=cache_dir, dtype=dtype))

    def save_pretrained(self, folder: str | Path) -> Path:
        from layerbridge.bridge.saving import save_bridge

        return save_bridge(self, folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, cache_dir: str | Path | None = None, models: tuple | None = None,
                        dtype: torch.dtype = torch.float32, revision: str | None = None,
                        strict_base_models: bool = False) -> "LayerBridge":
        """Rebuild a saved bridge from a folder or a Hub repo id ("user/name", at `revision`).
        `models` = (encoder, enc_tokenizer, llm, llm_tokenizer) reuses loaded models; otherwise they
        are loaded in `dtype` (the trained bridge weights stay float32). Base weights other than the
        ones it was trained on warn (`strict_base_models`: raise)."""
        from layerbridge.bridge.hub import bridge_folder
        from layerbridge.bridge.saving import load_bridge

        return load_bridge(cls, bridge_folder(folder, revision=revision), cache_dir=cache_dir, models=models,
                           dtype=dtype, strict_base_models=strict_base_models)

    def push_to_hub(self, repo_id: str, *, private: bool = False, revision: str | None = None,
                    run_dir: str | Path | None = None, token: str | None = None) -> str:
        """Upload the trained weights, the config and a model card (from `run_dir`'s training summary
        and results when given) to the Hub repo `repo_id`; returns the commit URL."""
        from layerbridge.bridge.hub import push_bridge

        return push_bridge(self, repo_id, private=private, revision=revision, run_dir=run_dir, token=token)
