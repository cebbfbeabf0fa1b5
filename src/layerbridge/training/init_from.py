"""Two-stage training (`TrainConfig.init_from`, `--init-from`): a run that starts from a saved bridge's
trained weights (a stage-1 bridge: a folder or a Hub id, found as `LayerBridge.from_pretrained` finds
it) instead of fresh ones; its optimizer, schedule and step start fresh (a resumed run's checkpoint
wins over them). What decides the weights' shapes and meaning must be the stage-1 bridge's (DESIGN, the
sizes) and so must the base models (their fingerprints, bridge/base_models.py); what the LLM reads
(instruction, prompt) may change between the stages. The source and the sha256 of its weights are
recorded as `BridgeConfig.init_from` (bridge_config.json, train_config.json, the model card), and the
stage-1 bridge's record of what it was trained on is carried into the new one's (`trained_on`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from layerbridge.bridge.config import BridgeConfig
from layerbridge.bridge.hub import bridge_folder
from layerbridge.bridge.lineage import trained_on
from layerbridge.bridge.saving import WEIGHTS_NAME, load_trained_weights, read_weights
from layerbridge.errors import ConfigError
from layerbridge.fusion import fusion_config
from layerbridge.injection import injection_config
from layerbridge.projector import projector_config

# The bridge settings that decide what the trained weights are (their shapes, or what they compute)
DESIGN = ("fusion", "fusion_options", "projector", "projector_options", "injection", "injection_options",
          "soft_prompt_length", "normalize", "freeze_encoder", "center_languages")
# Options that only decide a start or a regulariser, never what trained weights compute: they may differ
START_OR_TRAINING_ONLY = {"init", "last_layer_logit", "gate_init", "gate_dropout", "dropout", "layer_drop",
                          "entropy_weight"}
SIZES = ("encoder_num_layers", "encoder_hidden_size", "llm_hidden_size")


@dataclass
class StageOne:
    """A stage-1 bridge: how it was named, the local folder holding it, its config and its weights' sha256."""

    source: str
    folder: Path
    config: BridgeConfig
    sha256: str

    @property
    def record(self) -> dict:
        """What the stage-2 bridge records of it (BridgeConfig.init_from)."""
        return {"bridge": self.source, "sha256": self.sha256}


def stage_one(source: str) -> StageOne:
    """The saved bridge `source` names (a folder, or a Hub repo id), read but not loaded onto models."""
    from layerbridge.compare.reuse import file_sha256  # here: the compare package imports the training recipe

    folder = bridge_folder(source)
    config = BridgeConfig.load(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ConfigError(f"--init-from {source}: {weights} not found; the bridge in {folder} has no weights")
    return StageOne(str(source), folder, config, file_sha256(weights))


def _design_value(config: BridgeConfig, name: str):
    """A design setting as it decides the weights: options over their defaults, starts left out."""
    value = getattr(config, name)
    if name in ("fusion_options", "injection_options", "projector_options"):
        if name == "fusion_options":
            value = dataclasses.asdict(fusion_config(config.fusion, value))
        elif name == "injection_options":
            value = dataclasses.asdict(injection_config(config.injection, value))
        else:
            value = dataclasses.asdict(projector_config(config.projector, value))
        value = {k: v for k, v in value.items() if k not in START_OR_TRAINING_ONLY}
    return value


def design_mismatches(stage: BridgeConfig, config: BridgeConfig) -> list[str]:
    """The settings of `config` that do not fit the stage-1 bridge's weights, as "name: stage 1 -> this run"."""
    differ = [f"{name}: {_design_value(stage, name)!r} -> {_design_value(config, name)!r}" for name in DESIGN
              if _design_value(stage, name) != _design_value(config, name)]
    layers = stage.encoder_num_layers
    before = stage.layer_indices(layers) if layers is not None else stage.layers
    now = config.layer_indices(layers) if layers is not None else config.layers
    if before != now:
        differ.append(f"layers: {stage.layers!r} -> {config.layers!r}")
    return differ


def check_design(stage: StageOne, config: BridgeConfig, run: str = "this run") -> None:
    """Refuse a bridge design that does not fit the stage-1 weights, naming every setting that differs."""
    differ = design_mismatches(stage.config, config)
    if differ:
        raise ConfigError(f"--init-from {stage.source}: {run}'s bridge does not fit the stage-1 bridge's weights: "
                          f"{'; '.join(differ)} (stage 1 -> {run}). Train stage 2 with the stage-1 design")


def check_base_models(stage: StageOne, built: BridgeConfig) -> None:
    """Refuse base models other than the stage-1 bridge's: their sizes, and their weight fingerprints
    where both are known (else their names). `built`: the new bridge's config, filled from its models."""
    before, problems = stage.config, []
    for role in ("encoder", "llm"):
        old, new = getattr(before, f"{role}_weights"), getattr(built, f"{role}_weights")
        known = old is not None and new is not None
        if (old != new) if known else getattr(before, role) != getattr(built, role):
            problems.append(f"the stage-1 bridge was trained on {role} {getattr(before, role)!r} (weights "
                            f"{old or 'not recorded'}), this run loads {role} {getattr(built, role)!r} "
                            f"(weights {new or 'not recorded'})")
    problems += [f"{name}: {getattr(before, name)} -> {getattr(built, name)}" for name in SIZES
                 if None not in (getattr(before, name), getattr(built, name))
                 and getattr(before, name) != getattr(built, name)]
    if problems:
        raise ConfigError(f"--init-from {stage.source}: another base model: {'; '.join(problems)}")


def trained_on_record(task: str, stage: StageOne | None) -> list[dict]:
    """What the weights of a run on `task` (a task name or file) were trained on, the stage-1 bridge's
    tasks first (BridgeConfig.trained_on, saved in bridge_config.json; bridge/lineage.py: evaluation
    refuses a task their data came from)."""
    from layerbridge.tasks import get_task

    return trained_on(get_task(task), *((stage.config, stage.source) if stage is not None else ()))


def load_stage_one(bridge, stage: StageOne) -> None:
    """Check `bridge` (built from the run's config) against the stage-1 bridge, then load its weights."""
    check_design(stage, bridge.config)
    check_base_models(stage, bridge.config)
    state, path = read_weights(stage.folder)
    load_trained_weights(bridge, state, f"{path} (the stage-1 bridge {stage.source})")
    bridge.config.init_from = stage.record
