"""The training recipe: train a bridge on a task's English data. Reads top to bottom.

Runs as one CPU process by default; under `accelerate launch` the same code runs on several
processes or GPUs (DDP; FSDP / DeepSpeed through the accelerate config). A global batch is split
across processes and micro-batches, with the loss scaled so the update equals the one-process
update on the same global batch. Checkpoints are atomic; `resume=True` continues a killed run and
ends where an uninterrupted run would have ended.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from layerbridge.bridge import LayerBridge
from layerbridge.bridge.model import load_models
from layerbridge import precision
from layerbridge.encoder_cache import EncoderStateCache
from layerbridge.errors import ConfigError
from layerbridge.evaluation.metrics import accuracy
from layerbridge.evaluation.predict import predict
from layerbridge.io import atomic_write_text
from layerbridge.training import checkpoint as ckpt
from layerbridge.training.batches import chunks, global_batch, shard, steps_per_epoch
from layerbridge.training.config import TRAIN_CONFIG_NAME, TrainConfig

LOG_NAME = "train_log.jsonl"
SUMMARY_NAME = "train_summary.json"
LEXICAL_TEXTS = 4000  # English texts the lexical projector start (and the English mean state) is fitted on
COLLAPSED = 0.99  # mean top layer weight per token above which a fusion reads a single layer


def has_accelerator_device() -> bool:
    """A GPU (or other accelerator) is present. Without one, processes started by
    `accelerate launch --multi_gpu` / torchrun join a gloo process group on the CPU."""
    accel = getattr(torch, "accelerator", None)
    return bool(accel.is_available()) if accel is not None else torch.cuda.is_available()


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
            changed = sorted(k for k in now if now[k] != before.get(k))
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


def dev_score(bridge, task, dev, limit, max_new_tokens: int) -> tuple[str, float]:
    """("dev_accuracy", rank accuracy) for classification; ("dev_chrf", greedy chrF++) for generation."""
    rows = dev[:limit] if limit else dev
    if task.is_generation:
        from layerbridge.evaluation.generation import Decoding, generate_texts
        from layerbridge.evaluation.text_metrics import chrf

        outputs = generate_texts(bridge, [e.text for e in rows], Decoding(max_new_tokens=max_new_tokens))
        return "dev_chrf", chrf(outputs, [e.target for e in rows])
    pred, _ = predict(bridge, [e.text for e in rows], task.label_words, mode="rank")
    return "dev_accuracy", accuracy([e.label for e in rows], pred)


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
    fusions); otherwise they come from cfg. `on_step(step)` runs after each
    optimiser step (used to simulate a crash in tests)."""
    from layerbridge.tasks import get_task, load_train_dev

    # 1. processes, seed, output folder
    accelerator = Accelerator(mixed_precision=precision.resolve(cfg.mixed_precision), cpu=not has_accelerator_device())
    rank, world = accelerator.process_index, accelerator.num_processes
    set_seed(cfg.seed)
    out = Path(cfg.output_dir)
    if accelerator.is_main_process:
        prepare_output_dir(cfg, overwrite=overwrite, resume=resume)
        cfg.save(out)
    accelerator.wait_for_everyone()

    if resume and (out / SUMMARY_NAME).is_file():
        accelerator.print(f"{out} already holds a finished run; nothing to resume")
        return out

    # 2. data: English training examples and the dev set carved from them
    task = get_task(cfg.task)
    if data is None:
        data = load_train_dev(task, data_dir=cfg.data_dir, source=cfg.source, train_limit=cfg.train_limit,
                              dev_size=cfg.dev_size, seed=cfg.seed)
    train_examples, dev_examples = data
    if not train_examples:
        raise ConfigError(f"task {task.name}: no training examples")

    # 3. the bridge, optimizer and schedule
    if models is None:
        models = load_models(cfg.bridge, cache_dir=cfg.cache_dir, dtype=precision.frozen_dtype(cfg.mixed_precision))
    set_seed(cfg.seed)  # the bridge's initial weights depend on the seed only, however models were loaded
    bridge = LayerBridge(cfg.bridge, *models)
    if cfg.bridge.center_languages:  # the English mean state, which every input language is moved onto
        with accelerator.autocast():
            bridge.fit_source_mean([e.text for e in train_examples[:LEXICAL_TEXTS]])
    lexical = None
    if cfg.bridge.projector_init == "lexical":  # a closed-form start on the English training text
        from layerbridge.bridge.lexical_init import fit_lexical_projector

        with accelerator.autocast():
            lexical = fit_lexical_projector(bridge, [e.text for e in train_examples[:LEXICAL_TEXTS]])
        accelerator.print(f"projector fitted to the LLM's embeddings on {lexical['tokens']} English tokens "
                          f"(R^2 {lexical['r2']:.3f})")
    max_target = cfg.max_target_length or task.max_target_length
    targets_of, truncated = training_targets(bridge, task, train_examples, max_target)
    if truncated:
        accelerator.print(f"{truncated} of {len(train_examples)} training targets are longer than {max_target} LLM "
                          "tokens and were cut there (max_target_length)")
    params = [p for p in bridge.parameters() if p.requires_grad]
    fusion_params = {id(p) for p in bridge.fusion.parameters()}
    groups = [{"params": [p for p in params if id(p) not in fusion_params]},
              {"params": [p for p in params if id(p) in fusion_params],
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
    micro = cfg.micro_batch_size or math.ceil(cfg.batch_size / world)
    token_lengths = bridge.token_lengths([e.text for e in train_examples])
    cache = None
    if cfg.encoder_cache and cfg.bridge.freeze_encoder and bridge.reads_soft_tokens:
        cache = EncoderStateCache(bridge, max_gb=cfg.encoder_cache_gb, directory=cfg.encoder_cache_dir,
                                  dtype=precision.cache_dtype(accelerator.mixed_precision))
        cache.check_fits(token_lengths)
    lengths = token_lengths if cfg.bucket_by_length else None

    # 4. resume from the last complete checkpoint
    start, log = 0, []
    found = ckpt.find_checkpoint(out) if resume else None
    if found is not None:
        state, weights, opt_state, rng = ckpt.load_checkpoint(found, rank)
        with torch.no_grad():
            bridge.load_state_dict(weights, strict=False)
        optimizer.load_state_dict(opt_state)
        scheduler.load_state_dict({**state["scheduler"], "lr_lambdas": [None] * len(scheduler.lr_lambdas)})
        if rng is not None:
            torch.set_rng_state(rng)
        start = state["step"]
        log = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()
               if line.strip() and json.loads(line)["step"] <= start] if (out / LOG_NAME).is_file() else []
        accelerator.print(f"resuming {out} at step {start}/{total_steps}")

    # 5. the loop
    model.train()
    bar = tqdm(total=total_steps, initial=start, desc=f"train {task.name} ({cfg.bridge.fusion})",
               disable=not accelerator.is_main_process, unit="step")
    started, seen = time.perf_counter(), 0
    for step in range(start, total_steps):
        batch = global_batch(train_examples, step, cfg.batch_size, cfg.seed, lengths)
        mine = shard(batch, rank, world)
        weight = world / len(batch) if mine else 0.0
        mine = mine or batch[:1]  # an empty shard still joins the all-reduce, with zero weight
        parts = chunks(mine, micro)
        step_loss = torch.zeros((), device=accelerator.device)
        for i, part in enumerate(parts):
            sync = accelerator.no_sync(model) if i < len(parts) - 1 else nullcontext()
            with sync:
                targets = [targets_of[e.id] for e in part]
                texts = [e.text for e in part]
                prompts = bridge.prompt_ids(texts)
                if cache is not None:
                    states, mask = cache.states(texts)
                    out_ = model(targets, attention_mask=mask, encoder_states=states, prompt_ids=prompts)
                else:
                    encoded = bridge.tokenize(texts) if bridge.reads_soft_tokens else {}
                    out_ = model(targets, prompt_ids=prompts, **encoded)
                loss = out_.example_loss.sum() * weight
                accelerator.backward(loss)
            step_loss += out_.example_loss.detach().sum() * (weight > 0)
        grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seen += len(batch)

        done = step + 1
        mean_loss = accelerator.reduce(step_loss, reduction="sum").item() / len(batch)
        entry = {"step": done, "epoch": round(done / per_epoch, 4), "loss": round(mean_loss, 5),
                 "lr": scheduler.get_last_lr()[0], "grad_norm": None if grad_norm is None else round(float(grad_norm), 5),
                 **fusion_snapshot(bridge)}
        evaluate_now = (cfg.eval_every and done % cfg.eval_every == 0) or done == total_steps
        if evaluate_now and dev_examples:
            if accelerator.is_main_process:
                model.eval()
                with accelerator.autocast():
                    key, value = dev_score(bridge, task, dev_examples, cfg.dev_limit, max_target or 128)
                    entry[key] = round(value, 5)
                model.train()
            accelerator.wait_for_everyone()
        dev_key = next((k for k in ("dev_accuracy", "dev_chrf") if k in entry), None)
        if done % cfg.log_every == 0 or dev_key or done == total_steps:
            log.append(entry)
        bar.update(1)
        bar.set_postfix(loss=f"{mean_loss:.3f}", **({"dev": f"{entry[dev_key]:.3f}"} if dev_key else {}))

        if done % cfg.checkpoint_every == 0 and done < total_steps:
            if accelerator.is_main_process:
                ckpt.write_checkpoint(out, weights=bridge.trainable_state_dict(), optimizer=optimizer,
                                      scheduler=scheduler, step=done, extra={})
                write_log(out, log)
            accelerator.wait_for_everyone()
            ckpt.write_rng(out, rank)
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                ckpt.commit_checkpoint(out)
            accelerator.wait_for_everyone()
        if on_step is not None:
            on_step(done)
    bar.close()

    # 6. the trained bridge, its log and a summary
    elapsed = time.perf_counter() - started
    if accelerator.is_main_process:
        bridge.save_pretrained(out)
        write_log(out, log)
        bridge.eval()
        use = {}
        if bridge.reads_soft_tokens:
            with accelerator.autocast():
                use = layer_use(bridge, [e.text for e in (dev_examples or train_examples)[:16]])
        if use and len(bridge.layer_indices) > 1 and use["dev_top_weight_per_token"] > COLLAPSED:
            top = bridge.layer_indices[max(range(len(bridge.layer_indices)), key=use["dev_layer_weights"].__getitem__)]
            advice = "a lower --fusion-lr keeps it mixing layers"
            if cfg.bridge.fusion_options.get("init") != "last":
                advice += ", --fusion-option init=last keeps it on the last ones"
            accelerator.print(
                f"note: the {cfg.bridge.fusion} fusion gives each token {use['dev_top_weight_per_token']:.3f} of its weight "
                f"on one layer (encoder hidden state {top}): it has collapsed onto one layer, and English data alone "
                f"chooses layers that can transfer badly; {advice} (docs/fusion-study.md)")
        summary = {
            "task": task.name, "fusion": cfg.bridge.fusion, "steps": total_steps, "train_examples": len(train_examples),
            "dev_examples": len(dev_examples), "processes": world, "mixed_precision": accelerator.mixed_precision, "seconds": round(elapsed, 2),
            "examples_per_second": round(seen / elapsed, 3) if elapsed > 0 else None,
            "final_loss": log[-1]["loss"] if log else None,
            "dev_accuracy": next((e["dev_accuracy"] for e in reversed(log) if "dev_accuracy" in e), None),
            **({"dev_chrf": next((e["dev_chrf"] for e in reversed(log) if "dev_chrf" in e), None),
                "max_target_length": max_target, "targets_truncated": truncated} if task.is_generation else {}),
            "trainable_parameters": bridge.parameter_counts()["trainable"], **fusion_snapshot(bridge), **use,
            **({"lexical_init": lexical} if lexical else {}),
        }
        atomic_write_text(out / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
        shutil.rmtree(out / ckpt.CHECKPOINT_DIR, ignore_errors=True)  # finished: the bridge is saved
    accelerator.wait_for_everyone()
    # Let go of the model, optimizer and encoder cache now: `compare` trains several bridges in one
    # process, and the cache alone holds (tokens x layers x D) half-precision numbers.
    del cache, model, optimizer, bridge
    accelerator.free_memory()
    gc.collect()
    return out


def write_log(out: Path, log: list[dict]) -> None:
    atomic_write_text(out / LOG_NAME, "".join(json.dumps(e) + "\n" for e in log))
