"""The bridge: multilingual encoder -> layer fusion -> projector -> frozen LLM.

    texts ──encoder (frozen)──> hidden states of all layers          (B, S, L, D)
          ──fusion──────────> one vector per token, layer weights     (B, S, D), (B, S, L)
          ──projector───────> soft tokens in the LLM's embedding space (B, S', H)
    LLM input: [BOS] + soft tokens + [end boundary] + [LLM prompt] + target tokens, left-padded
          ──LLM (frozen)────> logits only where a target token is predicted  (N, V)

S' = S (one soft token per encoder token), K with the perceiver projector, k + S with pooled=k
(k pooled sentence tokens first), k with the pooled projector alone. The LLM prompt
(config.llm_input) is optional: an instruction and/or the raw text, read through the LLM's own
tokenizer and embeddings, never a target (bridge.text). An injection (config.injection) other than
`input` also reaches inside the LLM while it runs: hooks attached for the call only
(layerbridge.injection).

Only the fusion, the projector, the injection's weights and the end-boundary vector are trained
(and the encoder when `freeze_encoder=False`). The LLM is always frozen; gradients reach the bridge
through `inputs_embeds`. Frozen modules stay in eval mode (no dropout) even when the bridge trains.

This file is the model itself; scoring and generation are in bridge.inference, building and saving
in bridge.loading, the text side in bridge.text, trained/frozen parts in bridge.parts, language
centring in bridge.centring.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from layerbridge.bridge import checkpointing
from layerbridge.bridge.attention_kernel import training_attention
from layerbridge.bridge.base_models import filled_config
from layerbridge.bridge.centring import LanguageCentring, mean_state
from layerbridge.bridge.config import BridgeConfig
from layerbridge.bridge.inference import BridgeInference
from layerbridge.bridge.lm_head import lm_head_logits
from layerbridge.bridge.loading import PretrainedBridge
from layerbridge.bridge.parts import BridgeParts
from layerbridge.bridge.sequence import LLMInputs, assemble
from layerbridge.bridge.text import BridgeText
from layerbridge.errors import ConfigError
from layerbridge.fusion import build_fusion, fusion_config
from layerbridge.fusion.base import weight_entropy
from layerbridge.injection import build_injection
from layerbridge.projector import build_projector


@dataclass
class BridgeOutput:
    loss: torch.Tensor  # () mean cross-entropy over all target tokens of the batch
    example_loss: torch.Tensor  # (B,) mean cross-entropy over each example's target tokens
    layer_weights: torch.Tensor | None  # (B, S, L) per-token layer weights (0 on padding)
    weight_entropy: torch.Tensor | None = None  # (B,) mean entropy of each example's per-token layer weights
    example_penalty: torch.Tensor | None = None  # (B,) the fusion's regulariser, added to the loss in training


class LayerBridge(BridgeParts, BridgeText, BridgeInference, PretrainedBridge, nn.Module):
    def __init__(self, config: BridgeConfig, encoder, encoder_tokenizer, llm, llm_tokenizer, *,
                 strict_base_models: bool = False):
        super().__init__()
        # a filled-in copy (sizes, base-model fingerprints); the caller's config is left as it was
        self.config = config = filled_config(config, encoder, llm, strict=strict_base_models)
        self.generation_config = None  # layerbridge.decoding.Decoding it was tuned with (saved beside it), or None
        D, H = config.encoder_hidden_size, config.llm_hidden_size
        self.encoder, self.encoder_tokenizer = encoder, encoder_tokenizer
        if encoder_tokenizer is not None:
            self.check_encoder_length()  # refused when built, not at the first batch
        self.llm, self.llm_tokenizer = llm, llm_tokenizer
        self.layer_indices = config.layer_indices(config.encoder_num_layers)
        if not self.layer_indices:
            raise ConfigError(f"layers={config.layers!r} selects no hidden state of {config.encoder!r} "
                              f"(it has {config.encoder_num_layers} layers; 0 = embeddings)")
        if fusion_config(config.fusion, config.fusion_options).reads_last_layer_only and config.injection == "input":
            self.layer_indices = self.layer_indices[-1:]  # stacking (and caching) the others would be waste
        L = len(self.layer_indices)

        self.fusion = build_fusion(config.fusion, config.fusion_options, num_layers=L, hidden_size=D)
        self.projector = build_projector(config.projector, D, H, init=config.projector_init,
                                         options=config.projector_options)
        self.end_boundary = nn.Parameter(torch.zeros(H))  # (H,)
        # Optional soft prompt after BOS (the LLM-alone baseline uses one): n learned vectors,
        # initialised from the embeddings of random vocabulary tokens (prompt tuning's usual start).
        self.soft_prompt = None
        if config.soft_prompt_length:
            table = llm.get_input_embeddings().weight
            picks = torch.randint(0, table.shape[0], (config.soft_prompt_length,))
            self.soft_prompt = nn.Parameter(table[picks].detach().clone().float())  # (n, H)
        # built last: the fusion, projector and soft prompt start as they would without it (same seed)
        self.injection = build_injection(config.injection, config.injection_options, llm=llm, num_layers=L,
                                         hidden_size=D)
        self.centring = LanguageCentring(L, D) if config.center_languages else None

        # The bridge's own parts live where the LLM does: models already on an accelerator (as
        # `compare` leaves them after a first prepared training) get a bridge on it too, and every
        # input tensor follows `self.device`.
        self.move_own_parts(next(llm.parameters()).device)
        self.llm.requires_grad_(False)
        self.encoder.requires_grad_(not config.freeze_encoder)
        self.checkpointed_layers: list[nn.Module] = []  # LLM layers recomputed in the backward
        self.bos_id = llm_tokenizer.bos_token_id if config.use_bos else None
        self.eos_id = llm_tokenizer.eos_token_id
        if self.eos_id is None:
            raise ConfigError(f"the LLM tokenizer of {config.llm!r} has no EOS token")
        self.train(False)

    # ----------------------------------------------------------------- 1. encoder (+ language centring)
    def encoder_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, centred: bool = True
                       ) -> torch.Tensor:
        """The selected hidden states of every token, stacked by layer: (B, S, L, D); with
        center_languages (and `centred`), moved onto English inside an `input_language` block."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                               return_dict=True)
        states = torch.stack([out.hidden_states[i] for i in self.layer_indices], dim=2)  # (B, S, L, D)
        if self.config.normalize == "layernorm":
            states = F.layer_norm(states, states.shape[-1:])
        elif self.config.normalize == "scale":
            rms = states.pow(2).mean(-1, keepdim=True).clamp_min(1e-12).sqrt()  # (B, S, L, 1)
            states = states * (rms[:, :, -1:] / rms)
        if self.centring is not None and centred:
            states = self.centring.shift(states)
        return states

    def fit_source_mean(self, texts: list[str]) -> None:
        """center_languages: the English (training-language) mean state, saved with the bridge."""
        self.centring.source_mean.copy_(mean_state(self, texts))

    @contextlib.contextmanager
    def input_language(self, texts: list[str]):
        """Inside this block the inputs are taken to be in the language of `texts` (center_languages:
        their mean state is moved onto the English one). Without center_languages it does nothing."""
        if self.centring is None or not self.reads_soft_tokens:
            yield self
            return
        with self.centring.language(mean_state(self, texts)):
            yield self

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

    # ----------------------------------------------------------------- 4. the LLM
    def llm_inputs(self, soft: torch.Tensor | None, mask: torch.Tensor | None, target_ids: list[list[int]] | None,
                   prompt_ids: list[list[int]] | None = None) -> LLMInputs:
        """[BOS] + soft prompt + soft tokens (B, S', H) + boundary + prompt + targets, left-padded (B, T, H)."""
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
        """The LLM body (no LM head) over the assembled embeddings; no KV cache unless asked for. A
        training step on a CPU in bf16 takes the math attention kernel (bridge.attention_kernel)."""
        layers = self.checkpointed_layers if self.checkpoints_llm() else []
        with checkpointing.recomputing(layers), self.attention_kernel_context(inputs):
            return self.llm.base_model(
                inputs_embeds=inputs.inputs_embeds,  # (B, T, H)
                attention_mask=inputs.attention_mask,
                position_ids=inputs.position_ids,
                **{"use_cache": False, **kwargs},
            )

    def attention_kernel_context(self, inputs: LLMInputs):
        """The SDPA kernel of this LLM call: the math kernel for CPU bf16 training steps
        (bridge.attention_kernel), else torch's choice."""
        return training_attention(inputs.inputs_embeds, self.llm.config, self.checkpoints_llm())

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

    # ----------------------------------------------------------------- 5. forward and loss
    def forward(
        self,
        target_ids: list[list[int]],
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_states: torch.Tensor | None = None,
        prompt_ids: list[list[int]] | None = None,
        label_smoothing: float = 0.0,
        read_mask: torch.Tensor | None = None,
    ) -> BridgeOutput:
        """Loss on the target tokens only. Give the encoder inputs, or precomputed
        `encoder_states` (B, S, L, D) with their `attention_mask`; `prompt_ids` is the LLM prompt of
        each example (`prompt_ids(texts)`), required when the config's llm_input has one.
        `label_smoothing` > 0: each target token's cross-entropy against a target smoothed over the
        vocabulary (training only; scores stay plain log-probabilities). `read_mask` (B, S): the encoder
        positions the LLM reads, a subset of `attention_mask`'s (the recipe's encoder token dropout,
        training/objectives.py); the encoder itself still reads every token. None: all of them."""
        if (prompt_ids is None) != (self.config.llm_input == "soft"):
            raise ConfigError(f"llm_input={self.config.llm_input!r}: pass prompt_ids=bridge.prompt_ids(texts)"
                              if prompt_ids is None else "llm_input='soft' reads no prompt_ids")
        soft, soft_mask, weights = None, None, None
        read_mask = attention_mask if read_mask is None else read_mask  # (B, S)
        if self.reads_soft_tokens:
            if encoder_states is None:
                with record_function("layerbridge: encoder"):
                    encoder_states = self.encoder_states(input_ids, attention_mask)
            with record_function("layerbridge: fusion + projector"):
                soft, soft_mask, weights = self.soft_tokens(encoder_states, read_mask)
        with record_function("layerbridge: assemble LLM input"):
            inputs = self.llm_inputs(soft, soft_mask, target_ids, prompt_ids)
        with record_function("layerbridge: LLM forward + target logits"), \
                self.injection.attached(self.llm, encoder_states, read_mask):  # phases for torch.profiler
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
            entropy = weight_entropy(weights, read_mask)  # (B,)
            penalty = self.fusion.penalty(entropy)
        return BridgeOutput(loss=nll.mean(), example_loss=sums / counts, layer_weights=weights,
                            weight_entropy=entropy, example_penalty=penalty)

    def loss(self, texts: list[str], targets: list[str]) -> BridgeOutput:
        """Convenience: the loss of producing `targets` (strings) for `texts`."""
        encoded = self.tokenize(texts) if self.reads_soft_tokens else {}
        return self(self.target_ids(targets), prompt_ids=self.prompt_ids(texts), **encoded)

