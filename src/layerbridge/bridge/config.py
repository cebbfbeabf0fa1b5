"""BridgeConfig: every setting needed to rebuild a bridge, saved as JSON beside its weights."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerbridge.projector import PROJECTOR_INITS, PROJECTORS, check_projector
from layerbridge.errors import ConfigError
from layerbridge.fusion import FUSIONS, fusion_config
from layerbridge.injection import INJECTIONS, injection_config
from layerbridge.registry import unknown_fields
from layerbridge.tasks import get_task

CONFIG_NAME = "bridge_config.json"
NORMALIZATIONS = ("none", "layernorm", "scale")
# What the LLM reads before the target (docs/generation.md): the soft tokens alone (the paper);
# then an instruction through its own embeddings; then also the raw input text through its own
# tokenizer (MindMerger's "augmentation"); or no soft tokens at all (the LLM alone, a reference).
# The settings filled in from the loaded models (bridge.base_models.filled_config), never chosen by a
# user: no flags, not a run's override, cleared when a config is moved onto other models.
MODEL_FILLED = ("encoder_weights", "llm_weights", "encoder_num_layers", "encoder_hidden_size", "llm_hidden_size")
# Records, not choices: MODEL_FILLED, where the trained weights started (init_from, filled in by the
# training recipe from TrainConfig.init_from) and the tasks they were trained on (trained_on, from the
# task and init_from: bridge/lineage.py). No flags, not a run's override, skipped in a config file.
RECORDS = (*MODEL_FILLED, "init_from", "trained_on")
LLM_INPUTS = ("soft", "soft+instruction", "soft+instruction+text", "instruction+text")
LAYER_SETS = ("all", "all+embeddings", "upper_half")
TRUNCATION_SIDES = ("right", "left")  # which end of an input longer than max_encoder_length is cut
# The paper's configuration where our defaults differ or may be changed: its best fusion (Transformer
# Softmax) with the fusion's own defaults (the paper's uniform / random initialisation), the L layer
# outputs mixed as they are. The rest of the paper's bridge (linear projector, soft tokens as input,
# frozen encoder, 200 encoder tokens) is the default. Its training hyper-parameters are TrainConfig's.
PAPER_BRIDGE = {"fusion": "token_softmax", "layers": "all", "normalize": "none"}
PAPER_FIXED = (*PAPER_BRIDGE, "fusion_options")  # what BridgeConfig.paper() (and --paper) will not let change

# Each setting a user chooses carries its command-line flag in its field metadata (as PEFT's configs
# do); `layerbridge.cli.options` turns them into flags. Keys: "help" (a field without it has no
# flag: those filled in from the models); "flag" (the flag's name when not --field-name, e.g.
# --unfreeze-encoder: a bool's flag flips its default); "choices" (a tuple, or a
# registry read when the parser is built); "parse" (text -> value, for a flag's text); "unset"
# (the flag defaults to None, "not given", so that --paper and the task can tell a choice from the
# default). dict fields are repeatable KEY=VALUE flags.


def parse_layers(text: str) -> str | list[int]:
    """`layers` from text: one of LAYER_SETS, or a comma list of hidden-state indices."""
    if text in LAYER_SETS:
        return text
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise ConfigError(f"expected {' | '.join(LAYER_SETS)} | e.g. 6,9,12; got {text!r}") from err


def llm_input_for(task: Any = None, *, llm_input: str | None = None, instruction: str | None = None,
                  chat_template: bool = False) -> dict[str, Any]:
    """What the LLM reads for `task` (a task name, task file or Task; None: no task): the instruction
    given, else the task's; llm_input given, else soft+instruction when there is an instruction (or a
    chat template), else soft. With llm_input="soft", no instruction."""
    if instruction is None and task is not None:
        if isinstance(task, (str, Path)):
            task = get_task(str(task))
        instruction = task.instruction
    mode = llm_input or ("soft+instruction" if instruction or chat_template else "soft")
    return {"llm_input": mode, "instruction": "" if mode == "soft" else instruction or "",
            "chat_template": chat_template}


@dataclass
class BridgeConfig:
    """Settings of a bridge. `encoder` and `llm` are model names as `layerbridge.sources` reads them.
    `BridgeConfig.for_task(task)` is the bridge for a task (its instruction sets what the LLM reads,
    as on the command line); `BridgeConfig.paper(task)` the paper's configuration.

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

    encoder: str = field(default="multilingual-e5-small", metadata={
        "help": "the encoder: a built-in name, local folder, .gguf file or hub id"})
    llm: str = field(default="smollm2-135m-instruct", metadata={
        "help": "the LLM: a built-in name, local folder, .gguf file or hub id"})
    # global_softmax: our default (docs/fusion-study.md); the paper's best is "token_softmax" (paper())
    fusion: str = field(default="global_softmax", metadata={
        "help": "how the encoder's layers are mixed into one state per token", "choices": FUSIONS})
    fusion_options: dict[str, Any] = field(default_factory=dict, metadata={
        "flag": "--fusion-option", "help": "a fusion setting, e.g. gate_ffn_size=1024 or init=last"})
    projector: str = field(default="linear", metadata={
        "help": "linear (the paper) | mlp (D -> 2D -> ReLU -> D_llm) | perceiver (K latent queries read the "
                "encoder, the LLM reads K soft tokens) | pooled (the LLM reads only k tokens from the mean of "
                "the fused states, the sentence embedding)", "choices": PROJECTORS})
    projector_options: dict[str, Any] = field(default_factory=dict, metadata={
        "flag": "--projector-option", "help": "pooled=k (linear, mlp: k sentence-embedding tokens before the "
                "per-token ones; pooled: how many it gives); a perceiver setting: latents, layers, heads, ffn_mult, "
                "dropout"})
    projector_init: str = field(default="default", metadata={
        "help": "identity: a linear projector between equal sizes starts as the identity; lexical: fit a linear "
                "projector so soft tokens start as the LLM's embeddings of the same English text "
                "(bridge.lexical_init, docs/generation.md)", "choices": PROJECTOR_INITS})
    injection: str = field(default="input", metadata={
        "help": "input: the LLM reads soft tokens only (the paper); cross_attention: every LLM layer also attends "
                "to the encoder's layers (LayAlign)", "choices": INJECTIONS})
    injection_options: dict[str, Any] = field(default_factory=dict, metadata={
        "flag": "--injection-option", "help": "an injection setting, e.g. gate_init=0.1"})
    soft_prompt_length: int = field(default=0, metadata={
        "help": "learned vectors the LLM reads after BOS (the LLM-alone reference uses them)"})
    layers: str | list[int] = field(default="all", metadata={
        "help": "encoder hidden states fused: all | all+embeddings | upper_half | comma list (0 = embeddings)",
        "parse": parse_layers, "unset": True})
    normalize: str = field(default="none", metadata={
        "help": "per-layer normalisation before mixing", "choices": NORMALIZATIONS, "unset": True})
    max_encoder_length: int = field(default=200, metadata={
        "help": "encoder tokens per input, longer ones cut (at most the encoder's own positions, e.g. 512)"})
    truncation_side: str = field(default="right", metadata={
        "help": "which end of a longer input is cut: right keeps its start; left keeps its end (lm-eval's default: "
                "a few-shot prompt ends with its question)", "choices": TRUNCATION_SIDES})
    encoder_prefix: str = field(default="", metadata={
        "help": "text prepended to every encoder input (e.g. 'query: ' for E5)"})
    freeze_encoder: bool = field(default=True, metadata={"flag": "--unfreeze-encoder", "help": "train the encoder too"})
    use_bos: bool = field(default=True, metadata={
        "flag": "--no-bos", "help": "do not start the LLM input with its BOS embedding"})
    center_languages: bool = field(default=False, metadata={
        "help": "move each input language's mean encoder state onto the English one (fitted on the training text; "
                "a language's mean over the texts evaluated together)"})
    llm_input: str = field(default="soft", metadata={
        "help": "what the LLM reads after the soft tokens: nothing (soft), an instruction through its own "
                "embeddings, or the instruction and the raw text; instruction+text is the LLM alone "
                "(default: soft+instruction when the task has an instruction, else soft)",
        "choices": LLM_INPUTS, "unset": True})
    instruction: str = field(default="", metadata={
        "help": "the instruction the LLM reads; with +text, '{text}' places the text (else appended) "
                "(default: the task's, e.g. 'Translate into English: ')", "unset": True})
    chat_template: bool = field(default=False, metadata={"help": "wrap the instruction in the LLM's chat template"})
    # Filled in from the models when the bridge is built; checked again when it is loaded. No flags.
    encoder_weights: str | None = None  # fingerprint of the encoder's weights (bridge.base_models)
    llm_weights: str | None = None
    encoder_num_layers: int | None = None
    encoder_hidden_size: int | None = None
    llm_hidden_size: int | None = None
    # Two-stage training: the saved bridge whose weights this one started from, {"bridge": its folder or
    # Hub id, "sha256": of its bridge.safetensors}; filled in by the training recipe from
    # TrainConfig.init_from (training/init_from.py), None for a bridge trained from scratch. No flag.
    init_from: dict[str, str] | None = None
    # The tasks its weights were trained on, the stage-1 bridges' first (each with "bridge": that bridge),
    # this run's last: {"task", "task_file", "derived_from"} (bridge/lineage.py); evaluation refuses a task
    # named in a derived_from. Filled in by the training recipe; None for a bridge saved before the record.
    trained_on: list[dict[str, Any]] | None = None

    def __post_init__(self):
        check_projector(self.projector, self.projector_options)
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.soft_prompt_length < 0:
            raise ConfigError(f"soft_prompt_length must be >= 0, got {self.soft_prompt_length}")
        if self.max_encoder_length < 1:
            raise ConfigError(f"max_encoder_length must be >= 1, got {self.max_encoder_length}")
        if self.truncation_side not in TRUNCATION_SIDES:
            raise ConfigError(f"truncation_side must be one of {TRUNCATION_SIDES}, got {self.truncation_side!r}")
        if isinstance(self.layers, str):
            if self.layers not in LAYER_SETS:
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

    @classmethod
    def for_task(cls, task: Any = None, **settings: Any) -> "BridgeConfig":
        """The bridge for `task` (a task name, task file or Task): `settings` over the defaults, and
        what the LLM reads from the task unless `settings` say (`llm_input_for`): e.g. for flores_en
        soft+instruction with "Translate into English: ". The command line builds its bridge here."""
        reads = {key: settings.pop(key) for key in ("llm_input", "instruction", "chat_template") if key in settings}
        return cls(**settings, **llm_input_for(task, **reads))

    @classmethod
    def paper(cls, task: Any = None, **settings: Any) -> "BridgeConfig":
        """The paper's configuration (PAPER_BRIDGE) for `task`, with further `settings` that it leaves
        open (models, projector, what the LLM reads, ...)."""
        fixed = [key for key in PAPER_FIXED if key in settings]
        if fixed:
            raise ConfigError(f"the paper's configuration fixes {', '.join(fixed)}; drop them, or start from "
                              "BridgeConfig.for_task()")
        return cls.for_task(task, **PAPER_BRIDGE, **settings)

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
