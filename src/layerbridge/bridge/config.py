"""BridgeConfig: every setting needed to rebuild a bridge, saved as JSON beside its weights."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerbridge.projector import check_projector
from layerbridge.errors import ConfigError
from layerbridge.fusion import fusion_config
from layerbridge.injection import injection_config
from layerbridge.registry import unknown_fields

CONFIG_NAME = "bridge_config.json"
NORMALIZATIONS = ("none", "layernorm", "scale")
# What the LLM reads before the target (docs/generation.md): the soft tokens alone (the paper);
# then an instruction through its own embeddings; then also the raw input text through its own
# tokenizer (MindMerger's "augmentation"); or no soft tokens at all (the LLM alone, a reference).
LLM_INPUTS = ("soft", "soft+instruction", "soft+instruction+text", "instruction+text")


@dataclass
class BridgeConfig:
    """Settings of a bridge. `encoder` and `llm` are model names as `layerbridge.sources` reads them.

    Which encoder states are fused (`layers`): indices into the encoder's hidden states, where 0 is
    the embedding output and 1..L are the transformer layers. "all" = 1..L (the paper: the L layer
    outputs, embedding output skipped); "all+embeddings" = 0..L; "upper_half" = L//2+1..L; or an
    explicit list. `normalize="layernorm"` applies a parameter-free layer norm to each selected
    layer before mixing (useful for T5-family encoders, whose hidden states except the last are
    taken before the final norm); `"scale"` rescales each layer of a token to the RMS of its last
    selected layer (directions kept, scales matched); "none" (default) mixes them as they are,
    which is what the paper does and what a post-norm encoder (BERT / E5 / XLM-R) needs.

    `llm_input` (one of LLM_INPUTS) says what the LLM reads after [BOS] + soft tokens + end boundary
    and before the target: nothing, the `instruction`, or the instruction followed by the raw input
    text (through the LLM's own tokenizer); `chat_template` wraps that in the LLM's chat template as
    one user turn. None of it is ever part of the loss.

    `center_languages`: every selected layer's states of an input language are shifted by
    (English mean - that language's mean), the means taken over real tokens; the English mean is
    fitted on the training text, a language's mean on the texts being evaluated (unlabelled, no
    translation). Removing the language-specific mean makes the encoder's layers far more
    language-neutral (docs/generation.md).
    """

    encoder: str = "multilingual-e5-small"
    llm: str = "smollm2-135m-instruct"
    fusion: str = "global_softmax"  # our default (docs/fusion-study.md); the paper's best is "token_softmax"
    fusion_options: dict[str, Any] = field(default_factory=dict)
    projector: str = "linear"  # "linear" (paper) | "mlp" (D -> 2D -> ReLU -> D_llm) | "perceiver" (K soft tokens)
    projector_options: dict[str, Any] = field(default_factory=dict)  # perceiver: latents, layers, heads, ...
    projector_init: str = "default"  # "default" | "identity" (linear, equal sizes) | "lexical" (fitted, bridge.lexical_init)
    injection: str = "input"  # "input" (soft tokens only, the paper) | "cross_attention" (LayAlign)
    injection_options: dict[str, Any] = field(default_factory=dict)
    soft_prompt_length: int = 0  # learned vectors after BOS (the LLM-alone baseline uses them)
    layers: str | list[int] = "all"
    normalize: str = "none"
    max_encoder_length: int = 200
    encoder_prefix: str = ""  # prepended to every encoder input (e.g. "query: " for E5)
    freeze_encoder: bool = True
    use_bos: bool = True  # start the LLM input with its BOS embedding (if it has one)
    center_languages: bool = False  # shift each input language's mean encoder state onto English's (see below)
    llm_input: str = "soft"
    instruction: str = ""  # e.g. "Translate into English: "; with +text, "{text}" places the text (else appended)
    chat_template: bool = False
    # Filled in from the models when the bridge is built; checked again when it is loaded.
    encoder_weights: str | None = None  # fingerprint of the encoder's weights (bridge.base_models)
    llm_weights: str | None = None
    encoder_num_layers: int | None = None
    encoder_hidden_size: int | None = None
    llm_hidden_size: int | None = None

    def __post_init__(self):
        check_projector(self.projector, self.projector_options)
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.soft_prompt_length < 0:
            raise ConfigError(f"soft_prompt_length must be >= 0, got {self.soft_prompt_length}")
        if self.max_encoder_length < 1:
            raise ConfigError(f"max_encoder_length must be >= 1, got {self.max_encoder_length}")
        if isinstance(self.layers, str):
            if self.layers not in ("all", "all+embeddings", "upper_half"):
                raise ConfigError(
                    "layers must be 'all', 'all+embeddings', 'upper_half' or a list of indices, "
                    f"got {self.layers!r}"
                )
        elif not self.layers or not all(isinstance(i, int) for i in self.layers):
            raise ConfigError(f"layers must be a non-empty list of integers, got {self.layers!r}")
        fusion_config(self.fusion, self.fusion_options)  # validates name and options
        injection_config(self.injection, self.injection_options)
        if self.llm_input not in LLM_INPUTS:
            raise ConfigError(f"llm_input must be one of {LLM_INPUTS}, got {self.llm_input!r}")
        if self.llm_input == "soft" and (self.instruction or self.chat_template):
            raise ConfigError("llm_input='soft' reads no instruction: use llm_input='soft+instruction' "
                              "(or drop instruction / chat_template)")
        if "instruction" in self.llm_input and not self.instruction.strip() and not self.chat_template:
            raise ConfigError(f"llm_input={self.llm_input!r} needs a non-empty instruction")
        if "{text}" in self.instruction and not self.llm_input.endswith("text"):
            raise ConfigError(f"the instruction places {{text}}, but llm_input={self.llm_input!r} gives the LLM no text")

    def layer_indices(self, num_layers: int) -> list[int]:
        """The hidden-state indices fused, for an encoder with `num_layers` transformer layers."""
        if self.layers == "all":
            return list(range(1, num_layers + 1))
        if self.layers == "all+embeddings":
            return list(range(0, num_layers + 1))
        if self.layers == "upper_half":
            return list(range(num_layers // 2 + 1, num_layers + 1))
        bad = [i for i in self.layers if not 0 <= i <= num_layers]
        if bad:
            raise ConfigError(
                f"layers {bad} out of range: the encoder has hidden states 0..{num_layers}"
            )
        if len(set(self.layers)) != len(self.layers):
            raise ConfigError(f"layers lists an index twice: {self.layers}")
        return sorted(self.layers)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> "BridgeConfig":
        unknown = unknown_fields(cls, values)
        if unknown:
            raise ConfigError(f"{source}: unknown bridge setting(s) {unknown}")
        return cls(**values)

    def save(self, folder: str | Path) -> Path:
        from layerbridge.io import atomic_write_text

        path = Path(folder) / CONFIG_NAME
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "BridgeConfig":
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(f"{path}: not found; is {folder} a saved bridge?")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(values, source=str(path))
