"""The reference rows beside the compared bridges: how much of the encoder's own knowledge the
bridges keep. Each is the comparison's base bridge with a few named settings changed."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.config import MODEL_FILLED
from layerbridge.compare.evaluation import eval_folder, evaluate_run
from layerbridge.compare.intervals import with_intervals
from layerbridge.compare.run import Inputs, train_and_evaluate
from layerbridge.errors import ConfigError
from layerbridge.processes import processes
from layerbridge.sources.llm_embeddings import PREFIX as LLM_EMBEDDINGS
from layerbridge.sources.llm_embeddings import llm_embedding_encoder

REFERENCES = {"llm_alone": "the LLM reading the raw text, trained the same way",
              "llm_zero_shot": "the LLM reading the raw text after the task's instruction, no training (generation tasks)",
              "probe": "a linear probe on the frozen encoder (classification tasks)",
              "probe_centred": "the linear probe with language centring (transductive, as center_languages=true: each "
                               "test language's mean state, fitted on its unlabelled texts, moved onto English's)"}
PROBES = ("probe", "probe_centred")

LLM_ALONE_SOFT_PROMPT = 16  # soft-prompt vectors of the LLM-alone reference (plus a 576x576 linear adapter)
# the reference rows read the plain path whatever the bridges' projector or injection
PLAIN_PATH = {"projector_options": {}, "injection": "input", "injection_options": {}}
# an encoder's own states, mixed as they are, through a plain linear projector
RAW_STATES = {"fusion_options": {}, "normalize": "none", "projector": "linear", **PLAIN_PATH}
# what the loaded encoder fills in: another encoder's values would not match
ENCODER_FILLED_IN = {name: None for name in MODEL_FILLED if name.startswith("encoder_")}


def check_references(names: list[str], task) -> None:
    """Refuse an unknown reference row, or one that does not fit the task's kind."""
    unknown = sorted(set(names) - set(REFERENCES))
    if unknown:
        raise ConfigError(f"--references: unknown {unknown}; known: {', '.join(REFERENCES)}")
    probes = [name for name in PROBES if name in names]
    if probes and task.is_generation:
        raise ConfigError(f"--references {probes[0]}: a linear probe cannot write; drop it for a generation task")
    if "llm_zero_shot" in names and not task.is_generation:
        raise ConfigError("--references llm_zero_shot is for generation tasks (a classification LLM alone "
                          "is the trained llm_alone row)")


def llm_alone_config(base: BridgeConfig) -> BridgeConfig:
    """The LLM reading the raw text: its "encoder" is the LLM's own embedding table (tied to its head:
    never trained), read through an identity-initialised linear adapter after a learned soft prompt."""
    return dataclasses.replace(base, **RAW_STATES, **ENCODER_FILLED_IN, encoder=LLM_EMBEDDINGS + base.llm,
                               fusion="last", layers="all+embeddings", projector_init="identity",
                               soft_prompt_length=LLM_ALONE_SOFT_PROMPT, encoder_prefix="", center_languages=False,
                               freeze_encoder=True)


def zero_shot_config(base: BridgeConfig, instruction: str) -> BridgeConfig:
    """The untrained LLM reading the raw text after the instruction (it reads no soft tokens)."""
    return dataclasses.replace(base, **PLAIN_PATH, llm_input="instruction+text", instruction=instruction,
                               center_languages=False, projector_init="default")


def probe_config(base: BridgeConfig, *, centred: bool = False) -> BridgeConfig:
    """The bridge whose encoder states the probe reads: every layer, not normalised (centred: each
    language's mean state moved onto English's, as center_languages does)."""
    return dataclasses.replace(base, **RAW_STATES, fusion="global_softmax", layers="all", center_languages=centred)


def llm_alone(cfg, inputs: Inputs, *, overwrite: bool) -> dict:
    """Trained like the bridges, in <output>/llm_alone; from scratch (a stage-1 bridge of --init-from
    does not fit it)."""
    llm, llm_tokenizer = inputs.models[2:]
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, init_from=None))
    models = (*llm_embedding_encoder(llm, llm_tokenizer), llm, llm_tokenizer)
    _, run = train_and_evaluate(cfg, Path(cfg.train.output_dir) / "llm_alone", llm_alone_config(cfg.train.bridge),
                                dataclasses.replace(inputs, models=models), overwrite=overwrite)
    if run is None:
        return {}
    metric = inputs.task.headline_metric
    averages = {k: v for k, v in run.items() if k.endswith("_ci95") or k == "average_intervals"}
    return {"LLM alone": {metric: {lang: r[metric] for lang, r in run["results"].items()}, "train": run["train"],
                          **{k: run[k] for k in ("lr_grid", "chosen_lr") if k in run},
                          **interval_keys(run["results"], metric, averages)}}


def llm_zero_shot(cfg, inputs: Inputs, *, overwrite: bool) -> dict:
    """Evaluated only, in <output>/llm_zero_shot."""
    instruction = cfg.train.bridge.instruction or inputs.task.instruction
    zero = LayerBridge(zero_shot_config(cfg.train.bridge, instruction), *inputs.models)  # nothing of it is trained
    run_dir = Path(cfg.train.output_dir) / "llm_zero_shot"
    results, summary = evaluate_run(cfg, run_dir, zero, inputs.evaluation, inputs.task, overwrite=overwrite)
    if results is None:
        return {}
    results, averages = with_intervals(eval_folder(cfg, run_dir), results, inputs.task, summary)
    metric = inputs.task.headline_metric
    return {"LLM alone, zero-shot": {metric: {lang: r[metric] for lang, r in results.items()},
                                     "instruction": instruction, **interval_keys(results, metric, averages)}}


def interval_keys(results: dict, metric: str, averages: dict) -> dict:
    """A reference row's bootstrap intervals, where its evaluation has them: `<metric>_ci95` per language
    and those of its averages (compare.intervals), as a compared run keeps them."""
    per_language = {lang: r[f"{metric}_ci95"] for lang, r in results.items() if f"{metric}_ci95" in r}
    return {**({f"{metric}_ci95": per_language} if per_language else {}), **averages}


def probe(cfg, inputs: Inputs, *, overwrite: bool, centred: bool = False) -> dict:
    """Fitted on the main process only (nothing is saved: it takes seconds). Centred (`probe_centred`):
    the English mean fitted on the training texts as a centred bridge's is (training/recipe.py), the dev
    set and every test language moved onto it; rows "probe, centred: ..."."""
    from layerbridge.evaluation.probe import linear_probe

    if not processes().is_main_process:
        return {}
    bridge = LayerBridge(probe_config(cfg.train.bridge, centred=centred), *inputs.models)
    if centred:
        from layerbridge.tasks.training_data import english_texts

        bridge.fit_source_mean(english_texts(inputs.task, inputs.data[0]))
    return linear_probe(bridge, inputs.data[0], inputs.data[1], inputs.evaluation, seed=cfg.train.seed,
                        max_examples=cfg.probe_max_examples, name="probe, centred" if centred else "probe")


ROWS = {"llm_alone": llm_alone, "llm_zero_shot": llm_zero_shot, "probe": probe,
        "probe_centred": functools.partial(probe, centred=True)}


def reference_rows(cfg, inputs: Inputs, *, overwrite: bool) -> dict:
    """The rows `cfg.references` asks for, in REFERENCES' order (main process; {} elsewhere). Every
    process takes part in the trained and evaluated ones."""
    rows = {}
    for name in REFERENCES:
        if name in cfg.references:
            rows.update(ROWS[name](cfg, inputs, overwrite=overwrite))
    return rows
