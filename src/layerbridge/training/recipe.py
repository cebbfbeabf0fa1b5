"""The training recipe: train a bridge on a task's English data. `train` reads top to bottom:
`setup` (a row of `_setup_*` steps) builds a `Run`, `fit` takes its optimiser steps (one
`train_step` each), `finish` saves the bridge, its log and its summary. The three are public:
a caller that needs the steps themselves (to time them, or to stop a run where a crash would)
drives `setup` -> `fit` -> `finish` as `train` does, and `setup(cfg, bridge=...)` /
`train(cfg, bridge=...)` train a LayerBridge subclass of the caller's own.

Runs as one CPU process by default; under `accelerate launch` the same code runs on several
processes or GPUs (DDP; FSDP and DeepSpeed are refused until tested). A global batch is cut into
micro-batches dealt to the processes, with the loss scaled so the update equals the one-process
update on the same global batch; each micro-batch seeds its own dropout, so with the same
micro-batch size any number of processes draws the same dropout. The `Checkpointer` owns saving,
loading and gathering (checkpoints, the best-dev weights, the trained bridge); `resume=True`
continues a killed run and ends where an uninterrupted run would have ended.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from torch.profiler import record_function
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from layerbridge import precision
from layerbridge.bridge import LayerBridge
from layerbridge.bridge.config import RECORDS
from layerbridge.bridge.loading import load_models
from layerbridge.decoding import tuned_decoding
from layerbridge.encoder_cache import EncoderStateCache, bytes_per_token
from layerbridge.errors import ConfigError
from layerbridge.evaluation.recipe import truncation_warning
from layerbridge.processes import has_accelerator_device, main_decides
from layerbridge.tasks.training_data import english_texts
from layerbridge.training.batches import chunks, dropout_seed, epoch_batches, global_batch, steps_per_epoch
from layerbridge.training.checkpointer import Checkpointer
from layerbridge.training.config import TrainConfig
from layerbridge.training.dev import dev_score
from layerbridge.training.init_from import StageOne, check_design, load_stage_one, stage_one, trained_on_record
from layerbridge.training.objectives import MIN_SPLIT_WORDS, check_objective, objective_examples, token_dropout_mask
from layerbridge.training.refusals import refuse_sharded, refuse_sharded_launch, refuse_untrainable
from layerbridge.training.run_folder import data_fingerprint, prepare_output_dir
from layerbridge.training.tracking import accelerator_kwargs, end_tracking, log_entry, start_tracking
from layerbridge.training.summary import (SUMMARY_NAME, best_dev, dev_key, fusion_snapshot, read_log, scores_since_best,
                                          write_log, write_summary)


@dataclass
class Run:
    """What `setup` builds and `fit` uses (and, below the line, what the loop has done so far)."""

    cfg: TrainConfig
    accelerator: Accelerator
    out: Path
    task: object
    train_examples: list
    dev_examples: list
    bridge: LayerBridge  # unwrapped
    model: torch.nn.Module  # as prepared by accelerate (DDP-wrapped on several processes)
    optimizer: torch.optim.Optimizer
    scheduler: object
    checkpointer: Checkpointer
    cache: EncoderStateCache | None
    targets_of: dict[str, list[int]]
    truncated: int  # training targets cut at max_target (generation tasks)
    inputs_truncated: int  # training texts longer than max_encoder_length encoder tokens (cut)
    max_target: int | None
    lengths: list[int] | None  # encoder tokens per training text (length bucketing)
    total_steps: int
    per_epoch: int
    micro: int  # examples per forward pass
    lexical: dict | None
    objective: dict = field(default_factory=dict)  # the continuation objective's counts (training/objectives.py)
    # ---- the loop's progress: a resumed run starts at its checkpoint's step, with its log
    start: int = 0
    log: list[dict] = field(default_factory=list)
    seen: int = 0  # examples trained on by the loop, a killed run's up to its checkpoint included
    seconds: float = 0.0  # time in the loop, likewise (the checkpoint carries both: `progress`)
    stopped_early: int | None = None  # the step early stopping ended the loop at (early_stopping_patience)

    @property
    def steps_done(self) -> int:
        return self.stopped_early or self.total_steps


# ------------------------------------------------------------------------------ train = setup, fit, finish
def train(
    cfg: TrainConfig,
    *,
    overwrite: bool = False,
    resume: bool = False,
    models: tuple | None = None,
    data: tuple[list, list] | None = None,
    bridge: LayerBridge | None = None,
) -> Path:
    """Train and save a bridge into cfg.output_dir. `models` (encoder, encoder tokenizer, llm, llm
    tokenizer) and `data` (train, dev) may be given already loaded (`compare` reuses them across
    fusions); otherwise they come from cfg. `bridge`: see `setup`. Every process runs all of it;
    only the main one writes."""
    run = setup(cfg, overwrite=overwrite, resume=resume, models=models, data=data, bridge=bridge)
    if run is None:
        return Path(cfg.output_dir)
    for _ in fit(run):
        pass
    out, accelerator = finish(run), run.accelerator
    # Let go of the model, optimizer and encoder cache now: `compare` trains several bridges in one
    # process, and the cache alone holds (tokens x layers x D) numbers.
    del run
    accelerator.free_memory()
    gc.collect()
    return out


def setup(cfg: TrainConfig, *, overwrite: bool = False, resume: bool = False, models: tuple | None = None,
          data: tuple[list, list] | None = None, bridge: LayerBridge | None = None) -> Run | None:
    """Everything the loop needs, one `_setup_*` step each (each says why). None when `resume`
    finds the run already finished.

    `bridge`: a LayerBridge (or a subclass of yours) built from cfg.bridge to train instead of the
    one built here; it carries its models, so `models` is then not given. Built right after
    `accelerate.utils.set_seed(cfg.seed)`, it starts from the weights the recipe's own would have.
    With cfg.init_from it starts from the stage-1 bridge's weights (training/init_from.py)."""
    refuse_untrainable(cfg.bridge if bridge is None else bridge.config)
    cfg, stage = _setup_init_from(cfg)
    accelerator = _setup_processes(cfg)
    if not _setup_output_dir(cfg, accelerator, overwrite=overwrite, resume=resume):
        return None
    task, train_examples, dev_examples = _setup_data(cfg, data)
    bridge = _setup_bridge(cfg, models, bridge, stage)
    bridge.generation_config = tuned_decoding(task, cfg.generation)  # saved with it: generation_config.json
    lexical = _setup_closed_form_starts(cfg, accelerator, bridge, train_examples)  # on the whole English texts
    train_examples, objective = _setup_objective(cfg, accelerator, task, train_examples)
    targets_of, truncated, max_target = _setup_targets(cfg, accelerator, bridge, task, train_examples)
    bridge.check_encoder_length()  # before the pass over the texts
    full_lengths = bridge.full_token_lengths([e.text for e in train_examples])  # tokenized once, for both below
    inputs_truncated = _setup_input_lengths(accelerator, bridge, train_examples, full_lengths)
    total_steps, per_epoch = _setup_length(cfg, len(train_examples))
    if cfg.max_steps and total_steps < cfg.max_steps:  # max_steps caps; it does not extend
        accelerator.print(f"note: {cfg.epochs:g} epochs of {len(train_examples)} examples are {total_steps} steps, "
                          f"fewer than --max-steps {cfg.max_steps}: training {total_steps} (--epochs trains longer)")
    optimizer, scheduler = _setup_optimizer(cfg, bridge, total_steps)
    model, optimizer = accelerator.prepare(bridge, optimizer)  # DDP on several processes; the scheduler is stepped by hand
    bridge = accelerator.unwrap_model(model)
    cache, token_lengths = _setup_encoder_cache(cfg, accelerator, bridge, train_examples, full_lengths)
    micro = cfg.micro_batch_size or math.ceil(cfg.batch_size / accelerator.num_processes)
    run = Run(cfg=cfg, accelerator=accelerator, out=Path(cfg.output_dir), task=task, train_examples=train_examples,
              dev_examples=dev_examples, bridge=bridge, model=model, optimizer=optimizer, scheduler=scheduler,
              checkpointer=Checkpointer(Path(cfg.output_dir), accelerator, model, optimizer, scheduler,
                                        bridge.frozen_prefixes),
              cache=cache, targets_of=targets_of, truncated=truncated, inputs_truncated=inputs_truncated,
              max_target=max_target,
              lengths=token_lengths if cfg.bucket_by_length else None, total_steps=total_steps, per_epoch=per_epoch,
              micro=micro, lexical=lexical, objective=objective)
    # what a resume must find again: the micro-batch size (it decides the dropout and the sums), the data
    # and the base models' weights (the same names may hold other weights: a re-downloaded revision)
    run.checkpointer.meta = {"micro_batch_size": micro, "data": data_fingerprint(train_examples, dev_examples),
                             "base_weights": {"encoder": bridge.config.encoder_weights, "llm": bridge.config.llm_weights}}
    if resume:
        _setup_resume(run)
    start_tracking(run)  # the experiment trackers (report_to), from the step it starts at
    return run


def fit(run: Run) -> Iterator[int]:
    """The loop, from `run.start` to `run.total_steps`: one `train_step` per optimiser step, logged,
    scored on English dev when due, kept when it is the best so far (keep_best), checkpointed when
    due; ended early after `early_stopping_patience` dev scores in a row no better than the best. Yields each
    finished step's number (after its checkpoint): a caller may time the steps, or stop iterating to
    leave the folder as a crash at that point would."""
    cfg = run.cfg
    run.model.train()
    bar = tqdm(total=run.total_steps, initial=run.start, desc=f"train {run.task.name} ({cfg.bridge.fusion})",
               disable=not run.accelerator.is_main_process, unit="step")
    started = time.perf_counter()
    try:
        for step in range(run.start, run.total_steps):
            mean_loss, grad_norm, examples, entropy = train_step(run, step)
            done = step + 1
            run.seen += examples
            entry = step_entry(run, done, mean_loss, grad_norm, entropy)
            scored = dev_key(entry)
            if done % cfg.log_every == 0 or scored or done == run.total_steps:
                run.log.append(entry)
                log_entry(run, entry)
            if cfg.keep_best and scored and best_dev(run.log)[0] == done:
                run.checkpointer.keep_best(run.bridge)
            # every process holds the same dev scores (dev_score gathers them), so all stop together
            stop = bool(cfg.early_stopping_patience and scored
                        and scores_since_best(run.log) >= cfg.early_stopping_patience)
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.3f}", **({"dev": f"{entry[scored]:.3f}"} if scored else {}))
            if done % cfg.checkpoint_every == 0 and done < run.total_steps and not stop:
                if run.accelerator.is_main_process:
                    write_log(run.out, run.log)
                run.checkpointer.meta["progress"] = {"examples": run.seen,  # train_summary.json's name
                                                     "seconds": run.seconds + time.perf_counter() - started}
                run.checkpointer.save(done)
            yield done
            if stop:
                run.stopped_early = done
                run.accelerator.print(f"early stopping at step {done} of {run.total_steps}: {scores_since_best(run.log)} "
                                      f"dev scores in a row no better than the best (step {best_dev(run.log)[0]})")
                break
    finally:
        bar.close()
        run.seconds += time.perf_counter() - started


def finish(run: Run) -> Path:
    """After the loop: the trained bridge (with keep_best: the one of the best dev score) saved with
    its log and summary; the checkpoint and the best-dev weights removed. Every process runs it."""
    best = best_dev(run.log) if run.cfg.keep_best else None
    if best and best[0] != run.steps_done:
        run.checkpointer.restore_best(run.bridge)
    run.checkpointer.save_bridge(run.bridge)
    if run.accelerator.is_main_process:
        write_log(run.out, run.log)
        write_summary(run)
    end_tracking(run.accelerator)
    run.checkpointer.remove()
    run.accelerator.wait_for_everyone()
    return run.out


# ------------------------------------------------------------------------------ setup's steps
def _setup_processes(cfg: TrainConfig) -> Accelerator:
    """One process, or DDP over the processes `accelerate launch` started, in the mixed precision
    asked for; then the seed. An encoder that trains has parameters no step uses (the layers above
    the fused ones, a pooler): DDP must look for them, or it stops at the first step of a
    multi-process run. The experiment trackers of `report_to` are named here (`setup` starts them)."""
    ddp = [] if cfg.bridge.freeze_encoder else [DistributedDataParallelKwargs(find_unused_parameters=True)]
    refuse_sharded_launch()  # before accelerate reads the same variables (DeepSpeed's would fail on its import)
    accelerator = Accelerator(mixed_precision=precision.resolve(cfg.mixed_precision), cpu=not has_accelerator_device(),
                              kwargs_handlers=ddp, **accelerator_kwargs(cfg))
    refuse_sharded(accelerator)
    set_seed(cfg.seed)
    return accelerator


def _setup_output_dir(cfg: TrainConfig, accelerator: Accelerator, *, overwrite: bool, resume: bool) -> bool:
    """The output folder, prepared by the main process, which decides for all: when it refuses, every
    process stops (none waits for the others). False when `resume` finds the run already finished."""
    out = Path(cfg.output_dir)
    problem = None
    if accelerator.is_main_process:
        try:
            prepare_output_dir(cfg, overwrite=overwrite, resume=resume)
            cfg.save(out)
        except ConfigError as err:
            problem = str(err)
    problem, finished = main_decides((problem, resume and (out / SUMMARY_NAME).is_file()))
    if problem:
        raise ConfigError(problem)
    if finished:
        accelerator.print(f"{out} already holds a finished run; nothing to resume")
    return not finished


def _setup_data(cfg: TrainConfig, data: tuple[list, list] | None) -> tuple[object, list, list]:
    """The task, its English training examples and the dev set carved from them (unless given)."""
    from layerbridge.tasks import get_task, load_train_dev

    task = get_task(cfg.task)
    if data is None:
        data = load_train_dev(task, data_dir=cfg.data_dir, source=cfg.source, train_limit=cfg.train_limit,
                              dev_size=cfg.dev_size, seed=cfg.seed, dev_languages=cfg.dev_languages)
    train_examples, dev_examples = data
    if not train_examples:
        raise ConfigError(f"task {task.name}: no training examples")
    check_objective(cfg.objective, task, train_examples)  # before any model is loaded
    return task, train_examples, dev_examples


def _setup_objective(cfg: TrainConfig, accelerator: Accelerator, task, train_examples: list) -> tuple[list, dict]:
    """The examples the steps train on: with objective=continuation each English text cut in two, the
    encoder reading the first part and the LLM writing the rest (training/objectives.py); how many
    texts were too short to cut (they keep restating) is said. The dev set is left restating."""
    examples, counts = objective_examples(cfg.objective, task, train_examples, cfg.seed)
    if counts:
        accelerator.print(f"objective continuation: {counts['continuation_split']} of {len(train_examples)} training "
                          f"texts cut into what the encoder reads and what the LLM writes; "
                          f"{counts['continuation_restated']} shorter than {MIN_SPLIT_WORDS} words keep restating")
    return examples, counts


def _setup_init_from(cfg: TrainConfig) -> tuple[TrainConfig, StageOne | None]:
    """Two-stage training: the stage-1 bridge cfg.init_from names, read and its design checked before
    anything is spent, and recorded (with its weights' sha256) in the run's bridge settings, hence in
    train_config.json and bridge_config.json. Returns a copy of cfg (the caller's is not changed);
    without init_from, a record copied from another run's config is cleared."""
    if cfg.init_from is None:
        if cfg.bridge.init_from is None:
            return cfg, None
        return dataclasses.replace(cfg, bridge=dataclasses.replace(cfg.bridge, init_from=None)), None
    stage = stage_one(cfg.init_from)
    check_design(stage, cfg.bridge)
    return dataclasses.replace(cfg, bridge=dataclasses.replace(cfg.bridge, init_from=stage.record)), stage


def _setup_bridge(cfg: TrainConfig, models: tuple | None, bridge: LayerBridge | None,
                  stage: StageOne | None = None) -> LayerBridge:
    """The bridge to train: the caller's, or one built from cfg.bridge with the seed set again just
    before, so its initial weights depend on the seed only, however the models were loaded; then,
    with init_from, the stage-1 bridge's weights loaded into it after checking its base models."""
    if bridge is not None:
        if models is not None:
            raise ConfigError("give the recipe either `models` or a `bridge` built on them, not both")
        if not isinstance(bridge, LayerBridge):
            raise ConfigError(f"`bridge` must be a LayerBridge (or a subclass), not {type(bridge).__name__}")
        differ = [name for name, value in cfg.bridge.to_dict().items()
                  if name not in RECORDS and getattr(bridge.config, name) != value]
        if differ:  # the run's record (train_config.json) and its set-up read cfg.bridge: they must agree
            raise ConfigError(f"the bridge given to the recipe was built from other settings than cfg.bridge: "
                              f"{', '.join(differ)}; build it from cfg.bridge")
    else:
        if models is None:
            models = load_models(cfg.bridge, cache_dir=cfg.cache_dir, dtype=precision.frozen_dtype(cfg.mixed_precision))
        set_seed(cfg.seed)
        bridge = LayerBridge(cfg.bridge, *models)
    bridge.config.init_from = cfg.bridge.init_from
    bridge.config.trained_on = trained_on_record(cfg.task, stage)  # the stage-1 bridge's tasks, then this run's
    if stage is not None:
        load_stage_one(bridge, stage)
    if cfg.gradient_checkpointing:
        bridge.checkpoint_llm_layers()
    return bridge


def _setup_closed_form_starts(cfg: TrainConfig, accelerator: Accelerator, bridge: LayerBridge,
                              train_examples: list) -> dict | None:
    """What is fitted before any step, on English training texts: the English mean state (every
    input language is moved onto it) and the lexical projector start; the latter's fit report. A run
    from a stage-1 bridge (init_from) keeps the stage-1 bridge's instead."""
    if cfg.init_from is not None:
        if cfg.bridge.projector_init != "default":
            accelerator.print(f"projector_init={cfg.bridge.projector_init} is not applied: the run starts from "
                              f"the projector of the stage-1 bridge {cfg.init_from}")
        return None
    english = english_texts(cfg.task, train_examples)  # bitext (train language mul): its targets
    if cfg.bridge.center_languages:
        with accelerator.autocast():
            bridge.fit_source_mean(english)
    if cfg.bridge.projector_init != "lexical":
        return None
    from layerbridge.bridge.lexical_init import fit_lexical_projector

    with accelerator.autocast():
        lexical = fit_lexical_projector(bridge, english)
    accelerator.print(f"projector fitted to the LLM's embeddings on {lexical['tokens']} English tokens "
                      f"(R^2 {lexical['r2']:.3f})")
    return lexical


def _setup_targets(cfg: TrainConfig, accelerator: Accelerator, bridge: LayerBridge, task,
                   train_examples: list) -> tuple[dict[str, list[int]], int, int | None]:
    """Every training example's target as LLM token ids, computed once (the loop looks them up);
    generation targets are cut at max_target_length, and how many were cut is said."""
    max_target = cfg.max_target_length or task.max_target_length
    targets_of, truncated = training_targets(bridge, task, train_examples, max_target)
    if truncated:
        accelerator.print(f"{truncated} of {len(train_examples)} training targets are longer than {max_target} LLM "
                          "tokens and were cut there (max_target_length)")
    return targets_of, truncated, max_target


def _setup_input_lengths(accelerator: Accelerator, bridge: LayerBridge, train_examples: list,
                         full_lengths: list[int]) -> int:
    """How many training texts the encoder reads cut (longer than max_encoder_length), said up front:
    a cut is silent otherwise. Refuses a max_encoder_length beyond the encoder's own positions."""
    bridge.check_encoder_length()
    cut = sum(bridge.truncated([e.text for e in train_examples], full_lengths))
    warning = truncation_warning(cut, len(train_examples), bridge.config)
    if warning:
        accelerator.print(warning.replace("inputs", "training texts", 1))
    return cut


def _setup_length(cfg: TrainConfig, num_examples: int) -> tuple[int, int]:
    """(optimiser steps of the run, steps per epoch): epochs counted in global batches, capped by max_steps."""
    per_epoch = steps_per_epoch(num_examples, cfg.batch_size)
    total_steps = math.ceil(cfg.epochs * per_epoch)
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    return total_steps, per_epoch


def _setup_optimizer(cfg: TrainConfig, bridge: LayerBridge, total_steps: int) -> tuple[torch.optim.Optimizer, object]:
    """AdamW over the trainable parameters, the fusion's in a group of its own (it may have its own
    learning rate), and the cosine schedule with warm-up over the run's steps."""
    fusion_params = {id(p) for p in bridge.fusion.parameters()}
    trainable = [p for p in bridge.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in fusion_params]},
              {"params": [p for p in trainable if id(p) in fusion_params],
               "lr": cfg.fusion_learning_rate or cfg.learning_rate}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate, betas=cfg.betas,
                                  eps=cfg.eps, weight_decay=cfg.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler


def _setup_encoder_cache(cfg: TrainConfig, accelerator: Accelerator, bridge: LayerBridge, train_examples: list,
                         full_lengths: list[int]) -> tuple[EncoderStateCache | None, list[int]]:
    """Speed: the frozen encoder's states kept after their first computation (in RAM, or in a file
    when large), planned for the training texts; and their token lengths (for length buckets)."""
    token_lengths = bridge.token_lengths([e.text for e in train_examples], full_lengths)
    if not (cfg.encoder_cache and cfg.bridge.freeze_encoder and bridge.reads_soft_tokens):
        return None, token_lengths
    dtype, texts = precision.cache_dtype(accelerator.mixed_precision), [e.text for e in train_examples]
    cache = EncoderStateCache(bridge, max_gb=cfg.encoder_cache_gb, dtype=dtype,
                              directory=cache_directory(cfg, sum(token_lengths) * bytes_per_token(bridge, dtype),
                                                        accelerator))
    cache.plan(texts, token_lengths)
    if cache.file is None:
        cache.check_fits(token_lengths)
    else:  # one file per host, sized once, each process encoding its share before the first step
        size = cache.fill(texts_read(cfg, texts, token_lengths))
        accelerator.print(f"the encoder cache: {size:,} bytes in {cache.folder}, encoded before training by "
                          f"{cache.local_processes} process(es) of this host")
    return cache, token_lengths


def texts_read(cfg: TrainConfig, texts: list[str], token_lengths: list[int]) -> list[str]:
    """The training texts the run's steps will read: all once it covers an epoch, else those of its batches."""
    total_steps, per_epoch = _setup_length(cfg, len(texts))
    if total_steps >= per_epoch:
        return texts
    batches = epoch_batches(len(texts), cfg.batch_size, cfg.seed, 0, token_lengths if cfg.bucket_by_length else None)
    return [texts[i] for batch in batches[:total_steps] for i in batch]


def _setup_resume(run: Run) -> None:
    """With --resume: the weights, optimizer, schedule and RNG of the last complete checkpoint, and
    the log up to its step, so the loop continues where the killed run stopped (nothing without one).

    On another number of processes it continues exactly as well: the micro-batch size is the one the
    checkpoint was written with (the default depends on the number of processes, and the micro-batches
    decide the dropout), and a rank the checkpoint has no RNG for gets one derived from the seed.
    Refused when the training data are not the checkpoint's (e.g. a moved data folder holding others)."""
    step = run.checkpointer.load(run.bridge)
    if step is None:
        return
    state, cfg, accelerator = run.checkpointer.resumed, run.cfg, run.accelerator
    saved_data = state.get("data")
    if saved_data is not None and saved_data != run.checkpointer.meta["data"]:
        raise ConfigError(f"--resume: the training data are not those the checkpoint in {run.out} was trained on "
                          "(another data folder, source or task file?); resume on the same data, or start a new run")
    unchecked = _check_resumed_base_weights(run, state.get("base_weights") or {})
    if unchecked:
        accelerator.print(f"resuming {run.out}: the base weights of the {' and the '.join(unchecked)} could not be checked "
                          "against the checkpoint's (no fingerprint on one side)")
    before = state.get("processes", 1)
    run.micro = cfg.micro_batch_size or state.get("micro_batch_size") or math.ceil(cfg.batch_size / before)
    run.checkpointer.meta["micro_batch_size"] = run.micro
    if accelerator.process_index >= before:  # a rank the killed run did not have: an RNG of its own, from the seed
        torch.manual_seed(dropout_seed(cfg.seed, step, -1 - accelerator.process_index))
    if before != accelerator.num_processes:
        accelerator.print(f"resuming on {accelerator.num_processes} process(es) a run checkpointed on {before}: "
                          f"micro-batches of {run.micro} examples as before, so the same global batches and dropout")
    accelerator.print(f"resuming {run.out} at step {step}/{run.total_steps}")
    run.start, run.log = step, [e for e in read_log(run.out) if e["step"] <= step]
    progress = state.get("progress") or {}  # the summary's time and examples/s count the steps before the kill
    run.seen, run.seconds = progress.get("examples", 0), progress.get("seconds", 0.0)


def _check_resumed_base_weights(run: Run, saved: dict) -> list[str]:
    """Refuse to resume on base weights other than the checkpoint's: the trained weights are bound to
    them (a name may now hold another revision). Unknown fingerprints (None) on either side pass; the
    roles that could not be checked are returned, so that the resume says so."""
    now = run.checkpointer.meta["base_weights"]
    changed = [f"{role}: {saved[role]} -> {now[role]}" for role in ("encoder", "llm")
               if saved.get(role) and now.get(role) and saved[role] != now[role]]
    if changed:
        raise ConfigError(f"--resume: the checkpoint in {run.out} was trained on other base weights "
                          f"({'; '.join(changed)}): the same model names now load other weights. Resume with "
                          "the weights it was trained on, or start a new run")
    return [role for role in ("encoder", "llm") if not (saved.get(role) and now.get(role))]


# ------------------------------------------------------------------------------ helpers
def training_targets(bridge, task, examples, max_length: int | None) -> tuple[dict[str, list[int]], int]:
    """LLM token ids of every example's target ({example id: ids}) and how many were cut at
    `max_length` (generation tasks; a label word's ids for classification)."""
    if not task.is_generation:
        label_ids = bridge.target_ids(task.label_words)  # each label word's LLM tokens + EOS
        return {e.id: label_ids[e.label] for e in examples}, 0
    ids = bridge.target_ids([e.target for e in examples], max_length=max_length)
    truncated = sum(row[-1] != bridge.eos_id for row in ids) if max_length else 0  # cut rows get no EOS
    return {e.id: row for e, row in zip(examples, ids)}, truncated


def cache_directory(cfg: TrainConfig, need: int, accelerator) -> str | None:
    """Where the encoder cache goes: RAM (None) while its estimated size is within
    --encoder-cache-gb on one process; above it, or on several processes (who then share one file
    per host), a file under --encoder-cache-dir or the system's temporary folder (read back per
    batch: the page cache holds it, not the process)."""
    over = need > cfg.encoder_cache_gb * 2**30
    if cfg.encoder_cache_dir is not None or not (over or accelerator.num_processes > 1):
        return cfg.encoder_cache_dir
    folder = tempfile.gettempdir()
    why = (f"the encoder cache needs {need / 2**30:.2f} GiB, over --encoder-cache-gb {cfg.encoder_cache_gb:g}" if over
           else f"the encoder cache is shared by {accelerator.num_processes} processes (one copy, not one each)")
    accelerator.print(f"{why}: kept in a file under {folder} instead of RAM (--encoder-cache-dir chooses the folder)")
    return folder


# ------------------------------------------------------------------------------ one optimiser step
def train_step(run: Run, step: int) -> tuple[float, float | None, int, float]:
    """One optimiser step on global batch `step`: (mean loss over the batch, gradient norm, examples,
    mean per-token layer-weight entropy over the batch).

    The global batch is cut into micro-batches of `run.micro` examples, dealt round-robin to the
    processes; each example's loss is weighted so the update equals the one-process update."""
    cfg, accelerator, model = run.cfg, run.accelerator, run.model
    rank, world = accelerator.process_index, accelerator.num_processes
    batch = global_batch(run.train_examples, step, cfg.batch_size, cfg.seed, run.lengths)
    parts = list(enumerate(chunks(batch, run.micro)))
    mine, weight = parts[rank::world], world / len(batch)
    if not mine:  # fewer micro-batches than processes: still join the all-reduce, with zero weight
        mine, weight = [(0, batch[:1])], 0.0
    step_loss = torch.zeros((), device=accelerator.device)
    step_entropy = torch.zeros((), device=accelerator.device)
    for i, (index, part) in enumerate(mine):
        torch.manual_seed(dropout_seed(cfg.seed, step, index))
        with accelerator.no_sync(model) if i < len(mine) - 1 else nullcontext():
            out = micro_batch_output(run, step, part)
            objective = out.example_loss if out.example_penalty is None else out.example_loss + out.example_penalty
            with record_function("layerbridge: backward"):
                accelerator.backward(objective.sum() * weight)
        step_loss += out.example_loss.detach().sum() * (weight > 0)
        if out.weight_entropy is not None:
            step_entropy += out.weight_entropy.detach().sum() * (weight > 0)
    with record_function("layerbridge: optimiser step"):
        params = [p for p in model.parameters() if p.requires_grad]  # after `prepare`: the parameters it trains
        grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
    mean_loss = accelerator.reduce(step_loss, reduction="sum").item() / len(batch)
    entropy = accelerator.reduce(step_entropy, reduction="sum").item() / len(batch)
    return mean_loss, None if grad_norm is None else float(grad_norm), len(batch), entropy


def micro_batch_output(run: Run, step: int, part: list):
    """The model's output (BridgeOutput) on one micro-batch of step `step`: the encoder's states from
    the cache or the encoder; with encoder_token_dropout, the encoder positions the LLM reads drawn for
    this step and these examples (training/objectives.py), whichever path the states came by."""
    cfg, bridge = run.cfg, run.bridge
    targets = [run.targets_of[e.id] for e in part]
    texts = [e.text for e in part]
    prompts = bridge.prompt_ids(texts)
    if run.cache is not None:
        with record_function("layerbridge: encoder cache"):
            states, mask = run.cache.states(texts)  # (B, S, L, D), (B, S)
        encoded = {"attention_mask": mask, "encoder_states": states}
    else:
        encoded = dict(bridge.tokenize(texts)) if bridge.reads_soft_tokens else {}
    if cfg.encoder_token_dropout and encoded:
        encoded["read_mask"] = token_dropout_mask(encoded["attention_mask"], [e.id for e in part],
                                                  cfg.encoder_token_dropout, cfg.seed, step)  # (B, S)
    return run.model(targets, prompt_ids=prompts, label_smoothing=cfg.label_smoothing, **encoded)


def step_entry(run: Run, done: int, mean_loss: float, grad_norm: float | None, entropy: float) -> dict:
    """The log entry of optimiser step `done`, with the dev score when one is due (every
    eval_every steps and at the last step; every process scores its share)."""
    cfg, bridge = run.cfg, run.bridge
    entry = {"step": done, "epoch": round(done / run.per_epoch, 4), "loss": round(mean_loss, 5),
             "lr": run.scheduler.get_last_lr()[0], "grad_norm": None if grad_norm is None else round(grad_norm, 5),
             **({"weight_entropy": round(entropy, 5)} if len(bridge.layer_indices) > 1 else {}),
             **fusion_snapshot(bridge)}
    if run.dev_examples and ((cfg.eval_every and done % cfg.eval_every == 0) or done == run.total_steps):
        with run.accelerator.autocast():
            scores = dev_score(bridge, run.task, run.dev_examples, cfg.dev_limit, run.max_target or 128)
        for key, value in scores.items():  # a score, or one per dev language
            entry[key] = {lang: round(v, 5) for lang, v in value.items()} if isinstance(value, dict) else round(value, 5)
    return entry
