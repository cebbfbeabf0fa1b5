"""The training recipe: train a bridge on a task's English data. `train` reads top to bottom:
setup, resume, the loop (one `train_step` per optimiser step), save.

Runs as one CPU process by default; under `accelerate launch` the same code runs on several
processes or GPUs (DDP; FSDP and DeepSpeed are refused until tested). A global batch is cut into
micro-batches dealt to the processes, with the loss scaled so the update equals the one-process
update on the same global batch; each micro-batch seeds its own dropout, so with the same
micro-batch size any number of processes draws the same dropout. The `Checkpointer` owns saving,
loading and gathering; `resume=True` continues a killed run and ends where an uninterrupted run
would have ended.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, set_seed
from torch.profiler import record_function
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from layerbridge import precision
from layerbridge.bridge import LayerBridge
from layerbridge.bridge.model import load_models
from layerbridge.bridge.saving import WEIGHTS_NAME, load_trained_weights, save_bridge
from layerbridge.encoder_cache import EncoderStateCache, bytes_per_token
from layerbridge.errors import ConfigError
from layerbridge.io import atomic_write_text
from layerbridge.processes import has_accelerator_device, main_decides
from layerbridge.training.batches import chunks, global_batch, steps_per_epoch
from layerbridge.training.checkpointer import Checkpointer
from layerbridge.training.config import TRAIN_CONFIG_NAME, TrainConfig
from layerbridge.training.dev import dev_score

LOG_NAME = "train_log.jsonl"
SUMMARY_NAME = "train_summary.json"
BEST_NAME = "best-dev"  # with keep_best: the weights of the best dev score so far (removed at the end)
LEXICAL_TEXTS = 4000  # English texts the lexical projector start (and the English mean state) is fitted on
COLLAPSED = 0.99  # mean top layer weight per token above which a fusion reads a single layer


# settings a resumed run may change: they trade memory for speed and give the same results (tests)
RESULT_NEUTRAL = {"gradient_checkpointing", "encoder_cache_dir", "encoder_cache_gb"}


def prepare_output_dir(cfg: TrainConfig, *, overwrite: bool, resume: bool) -> Path:
    """Refuse to clobber results: an existing non-empty folder needs --overwrite or --resume."""
    out = Path(cfg.output_dir)
    if out.exists() and any(out.iterdir()):
        if resume:
            saved = out / TRAIN_CONFIG_NAME
            if not saved.is_file():
                raise ConfigError(f"--resume: {out} holds no {TRAIN_CONFIG_NAME}; nothing to resume")
            before = TrainConfig.load(out).to_dict()
            now = cfg.to_dict()
            changed = sorted(k for k in now if now[k] != before.get(k) and k not in RESULT_NEUTRAL)
            if changed:
                raise ConfigError(f"--resume: settings differ from the run in {out}: {changed}")
            return out
        if not overwrite:
            raise ConfigError(f"output folder {out} exists and is not empty; use --overwrite or --resume")
        shutil.rmtree(out)
    elif resume:
        raise ConfigError(f"--resume: {out} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    return out


def training_targets(bridge, task, examples, max_length: int | None) -> tuple[dict[str, list[int]], int]:
    """LLM token ids of every example's target ({example id: ids}) and how many were cut at
    `max_length` (generation tasks; a label word's ids for classification)."""
    if not task.is_generation:
        label_ids = bridge.target_ids(task.label_words)  # each label word's LLM tokens + EOS
        return {e.id: label_ids[e.label] for e in examples}, 0
    ids = bridge.target_ids([e.target for e in examples], max_length=max_length)
    truncated = sum(row[-1] != bridge.eos_id for row in ids) if max_length else 0  # cut rows get no EOS
    return {e.id: row for e, row in zip(examples, ids)}, truncated


@torch.no_grad()
def layer_use(bridge, texts: list[str]) -> dict:
    """Where the fusion puts each token's weight on a few dev texts: the mean weight per fused hidden
    state, and the mean top weight per token (near 1: every token reads one layer; the token gate
    collapses like that, onto a layer English data cannot choose well, docs/fusion-study.md)."""
    weights = torch.cat([row["weights"] for row in bridge.layer_weights(texts)]).float()  # (tokens, L)
    return {"dev_layer_weights": [round(w, 4) for w in weights.mean(0).tolist()],
            "dev_top_weight_per_token": round(float(weights.max(-1).values.mean()), 4)}


def fusion_snapshot(bridge) -> dict:
    """What to log about the fusion: the global-softmax weights over layers, when there are some."""
    fusion = bridge.fusion
    if hasattr(fusion, "global_weights"):
        return {"global_weights": [round(w, 5) for w in fusion.global_weights().tolist()]}
    return {}


def collapse_note(cfg: TrainConfig, bridge, use: dict) -> str | None:
    """A warning when the fusion put each token's weight on a single layer."""
    if not use or len(bridge.layer_indices) <= 1 or use["dev_top_weight_per_token"] <= COLLAPSED:
        return None
    top = bridge.layer_indices[max(range(len(bridge.layer_indices)), key=use["dev_layer_weights"].__getitem__)]
    advice = "a lower --fusion-lr keeps it mixing layers"
    if cfg.bridge.fusion_options.get("init") != "last":
        advice += ", --fusion-option init=last keeps it on the last ones"
    return (f"note: the {cfg.bridge.fusion} fusion gives each token {use['dev_top_weight_per_token']:.3f} of its weight "
            f"on one layer (encoder hidden state {top}): it has collapsed onto one layer, and English data alone "
            f"chooses layers that can transfer badly; {advice} (docs/fusion-study.md)")


def dropout_seed(seed: int, step: int, part: int) -> int:
    """The RNG seed of micro-batch `part` of optimiser step `step`: dropout then depends on the data
    only, not on how many processes share the batch or on where a run was resumed."""
    return ((seed * 1_000_003 + step) * 1_009 + part) % 2**63


@dataclass
class Run:
    """What `setup` builds and the loop uses."""

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
    truncated: int
    max_target: int | None
    lengths: list[int] | None  # encoder tokens per training text (length bucketing)
    total_steps: int
    per_epoch: int
    micro: int  # examples per forward pass
    lexical: dict | None


def refuse_sharded(accelerator: Accelerator) -> None:
    """FSDP and DeepSpeed are not tested here: refused up front, naming what is."""
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise ConfigError(f"accelerate is configured for {accelerator.distributed_type.value}, which layerbridge does "
                          "not support yet (untested); supported: one process, or DDP over several processes or GPUs "
                          "(`accelerate launch --multi_gpu --num_processes N -m layerbridge.cli.main train ...`)")


def setup(cfg: TrainConfig, *, overwrite: bool, resume: bool, models, data,
          bridge_class: type[LayerBridge] = LayerBridge) -> Run | None:
    """Processes, output folder, data, bridge, optimizer, schedule, encoder cache. None when `resume`
    finds the run already finished. `bridge_class`: a LayerBridge subclass to train instead (the
    benchmarks' baselines use it to time another way of computing the same loss)."""
    from layerbridge.tasks import get_task, load_train_dev

    # 1. processes, seed, output folder
    # An encoder that trains has parameters no step uses (the layers above the fused ones, a pooler):
    # DDP must look for them, or it stops at the first step of a multi-process run.
    ddp = [] if cfg.bridge.freeze_encoder else [DistributedDataParallelKwargs(find_unused_parameters=True)]
    accelerator = Accelerator(mixed_precision=precision.resolve(cfg.mixed_precision), cpu=not has_accelerator_device(),
                              kwargs_handlers=ddp)
    refuse_sharded(accelerator)
    set_seed(cfg.seed)
    out = Path(cfg.output_dir)
    problem = None
    if accelerator.is_main_process:
        try:
            prepare_output_dir(cfg, overwrite=overwrite, resume=resume)
            cfg.save(out)
        except ConfigError as err:
            problem = str(err)
    problem, finished = main_decides((problem, resume and (out / SUMMARY_NAME).is_file()))
    if problem:  # every process stops, none waits for the others
        raise ConfigError(problem)
    if finished:
        accelerator.print(f"{out} already holds a finished run; nothing to resume")
        return None

    # 2. data: English training examples and the dev set carved from them
    task = get_task(cfg.task)
    if data is None:
        data = load_train_dev(task, data_dir=cfg.data_dir, source=cfg.source, train_limit=cfg.train_limit,
                              dev_size=cfg.dev_size, seed=cfg.seed)
    train_examples, dev_examples = data
    if not train_examples:
        raise ConfigError(f"task {task.name}: no training examples")

    # 3. the bridge, its closed-form starts, the targets
    if models is None:
        models = load_models(cfg.bridge, cache_dir=cfg.cache_dir, dtype=precision.frozen_dtype(cfg.mixed_precision))
    set_seed(cfg.seed)  # the bridge's initial weights depend on the seed only, however models were loaded
    bridge = bridge_class(cfg.bridge, *models)
    if cfg.gradient_checkpointing:
        bridge.checkpoint_llm_layers()
    english = [e.text for e in train_examples[:LEXICAL_TEXTS]]
    if cfg.bridge.center_languages:  # the English mean state, which every input language is moved onto
        with accelerator.autocast():
            bridge.fit_source_mean(english)
    lexical = None
    if cfg.bridge.projector_init == "lexical":
        from layerbridge.bridge.lexical_init import fit_lexical_projector

        with accelerator.autocast():
            lexical = fit_lexical_projector(bridge, english)
        accelerator.print(f"projector fitted to the LLM's embeddings on {lexical['tokens']} English tokens "
                          f"(R^2 {lexical['r2']:.3f})")
    max_target = cfg.max_target_length or task.max_target_length
    targets_of, truncated = training_targets(bridge, task, train_examples, max_target)
    if truncated:
        accelerator.print(f"{truncated} of {len(train_examples)} training targets are longer than {max_target} LLM "
                          "tokens and were cut there (max_target_length)")

    # 4. optimizer and schedule; the fusion may have its own learning rate
    fusion_params = {id(p) for p in bridge.fusion.parameters()}
    trainable = [p for p in bridge.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in fusion_params]},
              {"params": [p for p in trainable if id(p) in fusion_params],
               "lr": cfg.fusion_learning_rate or cfg.learning_rate}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate, betas=cfg.betas,
                                  eps=cfg.eps, weight_decay=cfg.weight_decay)
    per_epoch = steps_per_epoch(len(train_examples), cfg.batch_size)
    total_steps = math.ceil(cfg.epochs * per_epoch)
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(bridge, optimizer)  # the scheduler is stepped by hand
    bridge = accelerator.unwrap_model(model)
    checkpointer = Checkpointer(out, accelerator, model, optimizer, scheduler, bridge.frozen_prefixes)

    # 5. speed: the encoder-state cache and length buckets
    token_lengths = bridge.token_lengths([e.text for e in train_examples])
    cache = None
    if cfg.encoder_cache and cfg.bridge.freeze_encoder and bridge.reads_soft_tokens:
        dtype = precision.cache_dtype(accelerator.mixed_precision)
        cache = EncoderStateCache(bridge, max_gb=cfg.encoder_cache_gb, dtype=dtype,
                                  directory=cache_directory(cfg, sum(token_lengths) * bytes_per_token(bridge, dtype),
                                                            accelerator))
        cache.check_fits(token_lengths)
        cache.plan([e.text for e in train_examples], token_lengths)
    return Run(cfg=cfg, accelerator=accelerator, out=out, task=task, train_examples=train_examples,
               dev_examples=dev_examples, bridge=bridge, model=model, optimizer=optimizer, scheduler=scheduler,
               checkpointer=checkpointer, cache=cache, targets_of=targets_of, truncated=truncated,
               max_target=max_target, lengths=token_lengths if cfg.bucket_by_length else None,
               total_steps=total_steps, per_epoch=per_epoch,
               micro=cfg.micro_batch_size or math.ceil(cfg.batch_size / accelerator.num_processes), lexical=lexical)


def cache_directory(cfg: TrainConfig, need: int, accelerator) -> str | None:
    """Where the encoder cache goes: RAM (None) while its estimated size is within
    --encoder-cache-gb; above it, a file under --encoder-cache-dir or the system's temporary folder
    (read back per batch: the page cache holds it, not the process)."""
    if cfg.encoder_cache_dir is not None or need <= cfg.encoder_cache_gb * 2**30:
        return cfg.encoder_cache_dir
    folder = tempfile.gettempdir()
    accelerator.print(f"the encoder cache needs {need / 2**30:.2f} GiB, over --encoder-cache-gb {cfg.encoder_cache_gb:g}: "
                      f"kept in a file under {folder} instead of RAM (--encoder-cache-dir chooses the folder)")
    return folder


def resume_from_checkpoint(run: Run) -> tuple[int, list[dict]]:
    """(first step, log so far) from the last complete checkpoint, or (0, []) without one."""
    step = run.checkpointer.load(run.bridge)
    if step is None:
        return 0, []
    path = run.out / LOG_NAME
    log = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    run.accelerator.print(f"resuming {run.out} at step {step}/{run.total_steps}")
    return step, [e for e in log if e["step"] <= step]


def train_step(run: Run, step: int) -> tuple[float, float | None, int, float]:
    """One optimiser step on global batch `step`: (mean loss over the batch, gradient norm, examples,
    mean per-token layer-weight entropy over the batch).

    The global batch is cut into micro-batches of `run.micro` examples, dealt round-robin to the
    processes; each example's loss is weighted so the update equals the one-process update."""
    cfg, accelerator, model, bridge = run.cfg, run.accelerator, run.model, run.bridge
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
            targets = [run.targets_of[e.id] for e in part]
            texts = [e.text for e in part]
            prompts = bridge.prompt_ids(texts)
            if run.cache is not None:
                with record_function("layerbridge: encoder cache"):
                    states, mask = run.cache.states(texts)
                out = model(targets, attention_mask=mask, encoder_states=states, prompt_ids=prompts,
                            label_smoothing=cfg.label_smoothing)
            else:
                encoded = bridge.tokenize(texts) if bridge.reads_soft_tokens else {}
                out = model(targets, prompt_ids=prompts, label_smoothing=cfg.label_smoothing, **encoded)
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


def train(
    cfg: TrainConfig,
    *,
    overwrite: bool = False,
    resume: bool = False,
    models: tuple | None = None,
    data: tuple[list, list] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> Path:
    """Train and save a bridge into cfg.output_dir. `models` (encoder, encoder tokenizer, llm, llm
    tokenizer) and `data` (train, dev) may be given already loaded (`compare` reuses them across
    fusions); otherwise they come from cfg. `on_step(step)` runs after each optimiser step (used to
    simulate a crash in tests). Every process runs all of it; only the main one writes."""
    run = setup(cfg, overwrite=overwrite, resume=resume, models=models, data=data)
    if run is None:
        return Path(cfg.output_dir)
    accelerator, bridge, out = run.accelerator, run.bridge, run.out
    start, log = resume_from_checkpoint(run) if resume else (0, [])

    # the loop
    run.model.train()
    bar = tqdm(total=run.total_steps, initial=start, desc=f"train {run.task.name} ({cfg.bridge.fusion})",
               disable=not accelerator.is_main_process, unit="step")
    started, seen = time.perf_counter(), 0
    for step in range(start, run.total_steps):
        mean_loss, grad_norm, examples, entropy = train_step(run, step)
        done = step + 1
        seen += examples
        entry = {"step": done, "epoch": round(done / run.per_epoch, 4), "loss": round(mean_loss, 5),
                 "lr": run.scheduler.get_last_lr()[0], "grad_norm": None if grad_norm is None else round(grad_norm, 5),
                 **({"weight_entropy": round(entropy, 5)} if len(bridge.layer_indices) > 1 else {}),
                 **fusion_snapshot(bridge)}
        if run.dev_examples and ((cfg.eval_every and done % cfg.eval_every == 0) or done == run.total_steps):
            with accelerator.autocast():
                key, value = dev_score(bridge, run.task, run.dev_examples, cfg.dev_limit, run.max_target or 128)
            entry[key] = round(value, 5)
        dev_key = next((k for k in ("dev_accuracy", "dev_chrf") if k in entry), None)
        if done % cfg.log_every == 0 or dev_key or done == run.total_steps:
            log.append(entry)
        if cfg.keep_best and dev_key and best_dev(log)[0] == done:
            keep_weights(run, out / BEST_NAME)
        bar.update(1)
        bar.set_postfix(loss=f"{mean_loss:.3f}", **({"dev": f"{entry[dev_key]:.3f}"} if dev_key else {}))
        if done % cfg.checkpoint_every == 0 and done < run.total_steps:
            if accelerator.is_main_process:
                write_log(out, log)
            run.checkpointer.save(done)
        if on_step is not None:
            on_step(done)
    bar.close()
    elapsed = time.perf_counter() - started

    # the trained bridge (with keep_best: the one of the best dev score), its log and a summary
    best = best_dev(log) if cfg.keep_best else None
    if best and best[0] != run.total_steps:
        restore_weights(run, out / BEST_NAME)
    weights = run.checkpointer.trainable_weights()  # every rank: a collective under sharding
    if accelerator.is_main_process:
        save_bridge(bridge, out, state=weights)
        write_log(out, log)
        write_summary(run, log, elapsed, seen)
    run.checkpointer.remove()
    if accelerator.is_main_process:
        shutil.rmtree(out / BEST_NAME, ignore_errors=True)
    accelerator.wait_for_everyone()
    # Let go of the model, optimizer and encoder cache now: `compare` trains several bridges in one
    # process, and the cache alone holds (tokens x layers x D) numbers.
    del run, bridge
    accelerator.free_memory()
    gc.collect()
    return out


def best_dev(log: list[dict]) -> tuple[int, str, float] | None:
    """(step, key, score) of the best English dev score in the log (the first of equal ones), or None."""
    scored = [(e["step"], key, e[key]) for e in log for key in ("dev_accuracy", "dev_chrf") if key in e]
    return max(scored, key=lambda s: (s[2], -s[0])) if scored else None


def keep_weights(run: Run, folder: Path) -> None:
    """Save the current trainable weights into `folder` (every rank gathers, the main one writes)."""
    weights = run.checkpointer.trainable_weights()
    if run.accelerator.is_main_process:
        save_bridge(run.bridge, folder, state=weights)
    run.accelerator.wait_for_everyone()


def restore_weights(run: Run, folder: Path) -> None:
    """Load the weights kept in `folder` into the bridge on every rank (the main process reads them)."""
    from safetensors.torch import load_file

    state = main_decides(load_file(folder / WEIGHTS_NAME) if run.accelerator.is_main_process else None)
    load_trained_weights(run.bridge, state, str(folder / WEIGHTS_NAME))


def write_summary(run: Run, log: list[dict], elapsed: float, seen: int) -> None:
    """Main process: train_summary.json (and the collapse note when the fusion reads one layer)."""
    cfg, bridge, task = run.cfg, run.bridge, run.task
    bridge.eval()
    use = {}
    if bridge.reads_soft_tokens:
        with run.accelerator.autocast():
            use = layer_use(bridge, [e.text for e in (run.dev_examples or run.train_examples)[:16]])
    note = collapse_note(cfg, bridge, use)
    if note:
        run.accelerator.print(note)
    last = lambda key: next((e[key] for e in reversed(log) if key in e), None)  # noqa: E731
    summary = {
        "task": task.name, "fusion": cfg.bridge.fusion, "steps": run.total_steps,
        "train_examples": len(run.train_examples), "dev_examples": len(run.dev_examples),
        "processes": run.accelerator.num_processes, "mixed_precision": run.accelerator.mixed_precision,
        "seconds": round(elapsed, 2), "examples_per_second": round(seen / elapsed, 3) if elapsed > 0 else None,
        "final_loss": log[-1]["loss"] if log else None, "dev_accuracy": last("dev_accuracy"),
        **({"dev_chrf": last("dev_chrf"), "max_target_length": run.max_target, "targets_truncated": run.truncated}
           if task.is_generation else {}),
        "trainable_parameters": bridge.parameter_counts()["trainable"], **fusion_snapshot(bridge), **use,
        **({"lexical_init": run.lexical} if run.lexical else {}),
    }
    best = best_dev(log) if cfg.keep_best else None
    if best:  # the saved bridge is the best dev one: its score is the run's
        summary.update({"best_step": best[0], best[1]: best[2], f"last_{best[1]}": last(best[1])})
    atomic_write_text(run.out / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")


def write_log(out: Path, log: list[dict]) -> None:
    atomic_write_text(out / LOG_NAME, "".join(json.dumps(e) + "\n" for e in log))
