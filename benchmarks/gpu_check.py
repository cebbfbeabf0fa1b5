"""The GPU check in one command (issue 29): the users' scale on one GPU, through the real recipe.

    python -m benchmarks.gpu_check                    # CUDA: paper shapes, bf16, < 8 minutes on one GPU
    python -m benchmarks.gpu_check --tiny --device cpu --out /tmp/gc   # the tiny CPU version (tests/test_gpu_check.py)
    python -m benchmarks.gpu_check --peak-tflops 989  # the GPU's dense bf16 peak, when its name is not in the table

Where CUDA is present: an encoder shaped like mT5-large's and an LLM shaped like Llama-3.2-1B
(random weights from configs built here, `benchmarks/paper_scale.py`; no hub, no download; the
tokenizers are trained here on the texts), held in bf16. Without CUDA (or with --tiny) the same
steps run on tiny shapes for a few steps: the check cannot rot.

1. **Throughput**: each fusion (last, global_softmax, token_softmax) and the cross-attention
   injection trained with the recipe's own `setup` + `train_step` (bf16 autocast, AdamW, the
   encoder cache): the first epoch fills the cache (timed apart), then --steps timed steps.
   Reports examples/s, real LLM tokens/s, peak memory (allocated CUDA memory on a GPU) and MFU,
   the share of the GPU's dense bf16 peak: useful FLOPs counted by `benchmarks/flops.py` (input
   injection), and for every arm the FLOPs torch executed (`FlopCounterMode` on one step: padding
   included; the only count for cross-attention). Every text is longer than --max-encoder-length,
   so every step has the same shape and one counted step stands for all.
   Where MFU < 40%: a torch.profiler summary of a few steps (where the time goes: device busy
   share, operator categories, top operators).
2. **Kill and resume**: a child process trains token_softmax (dropout on: the RNG state matters)
   and kills itself with SIGKILL between two checkpoints; the run is resumed here with
   `train(..., resume=True)` and its weights are compared with an uninterrupted run's.
3. **bf16 against fp32**: the trained bridge ranks the labels of held-out texts with the models
   held in bf16 under bf16 autocast, then with the same weights in float32: the share of equal
   top-1 choices (all, and where fp32's top-2 margin exceeds 0.5 nats).
4. **Generation**: greedy twice (must be equal), beam search (4 beams), and greedy again in fp32.

Writes results.json (and prints a summary): on a GPU (full shapes, no --out) into
benchmarks/results/gpu/<gpu name>.json; otherwise into --out (default: a temporary folder).
Exit status 0 when every check passed (MFU is reported, not checked).
"""

from __future__ import annotations

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS for the resume check

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from benchmarks.common import REPO, llm_length, padding_fraction  # noqa: E402
from benchmarks.flops import Dims, matmul_peak, step_flops  # noqa: E402
from benchmarks.paper_scale import LABELS, PeakMemory, encoder_config, english_texts, llm_config  # noqa: E402

ARMS = (("last", "input"), ("global_softmax", "input"), ("token_softmax", "input"), ("last", "cross_attention"))
BF16_PEAK_TFLOPS = {  # dense bf16 tensor-core peaks (no sparsity), by a substring of the device name
    "H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "A800": 312.0,
    "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10G": 70.0, "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0,
}
MFU_AIM = 0.40
KEYWORDS = ["software", "airport", "election", "football", "vaccine", "concert", "mountain"]  # one per label
SIZES = {  # per shape: batch, max encoder tokens, sentences per text, first-epoch steps, timed steps,
    # resume run (steps, checkpoint every, killed after), held-out texts scored, generated texts / tokens
    "paper": dict(batch_size=64, max_encoder_length=128, join=8, epoch_steps=8, steps=200, profile_steps=3,
                  resume=(12, 4, 6), score_texts=256, generate_texts=16, new_tokens=16, tokenizer_vocab=8000),
    "tiny": dict(batch_size=4, max_encoder_length=24, join=2, epoch_steps=2, steps=4, profile_steps=1,
                 resume=(5, 2, 3), score_texts=16, generate_texts=4, new_tokens=4, tokenizer_vocab=600),
}


# ------------------------------------------------------------------------------ models and data
def tokenizers(texts: list[str], vocab_size: int) -> tuple:
    """(encoder tokenizer, LLM tokenizer) trained here on the texts: a T5-style unigram one (no BOS,
    "</s>" appended, pad 0) and a byte-level BPE one with <s> / </s> / <pad>, as Llama 3's kind."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = texts + [" ".join(LABELS), " ".join(KEYWORDS)]
    enc = Tokenizer(models.Unigram())
    enc.pre_tokenizer = pre_tokenizers.Metaspace()
    enc.decoder = decoders.Metaspace()
    enc.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"],
                                                            unk_token="<unk>", show_progress=False))
    enc.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    llm = Tokenizer(models.BPE())
    llm.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    llm.decoder = decoders.ByteLevel()
    llm.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    return (PreTrainedTokenizerFast(tokenizer_object=enc, eos_token="</s>", pad_token="<pad>", unk_token="<unk>"),
            PreTrainedTokenizerFast(tokenizer_object=llm, bos_token="<s>", eos_token="</s>", pad_token="<pad>"))


def model_configs(shape: str) -> tuple:
    """(encoder config, LLM config): mT5-large's encoder and Llama-3.2-1B (paper_scale), or tiny ones."""
    if shape == "paper":
        enc, llm = encoder_config(), llm_config()
    else:
        from transformers import LlamaConfig, MT5Config

        enc = MT5Config(vocab_size=SIZES["tiny"]["tokenizer_vocab"], d_model=32, d_kv=8, d_ff=64, num_layers=4,
                        num_heads=4, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
        llm = LlamaConfig(vocab_size=SIZES["tiny"]["tokenizer_vocab"], hidden_size=48, intermediate_size=96,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                          tie_word_embeddings=True)
    llm.bos_token_id, llm.pad_token_id, llm.eos_token_id = 0, 1, 2  # the LLM tokenizer's ids
    return enc, llm


def build_models(shape: str, device: torch.device, tokenizer_dir: Path) -> tuple:
    """(encoder, encoder tokenizer, llm, llm tokenizer): random weights (seed 0), initialised on the
    device directly in bf16 (the dtype bf16 runs hold frozen models in)."""
    from transformers import AutoTokenizer, LlamaForCausalLM, MT5Config, MT5EncoderModel, T5EncoderModel

    enc_cfg, llm_cfg = model_configs(shape)
    encoder_class = MT5EncoderModel if isinstance(enc_cfg, MT5Config) else T5EncoderModel
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with device:
            encoder, llm = encoder_class(enc_cfg).eval(), LlamaForCausalLM(llm_cfg).eval()
    finally:
        torch.set_default_dtype(previous)
    return (encoder, AutoTokenizer.from_pretrained(tokenizer_dir / "encoder"), llm,
            AutoTokenizer.from_pretrained(tokenizer_dir / "llm"))


def examples(n: int, join: int, offset: int = 0) -> list:
    """n training examples over the 7 SIB-200 labels; each text carries its label's keyword at both
    ends (learnable by random-weight models, whichever end a truncation keeps)."""
    from layerbridge.tasks.base import Example

    texts = english_texts(n + offset, join)[offset:]
    return [Example(id=f"gpu-check/en/{offset + i}", text=f"{KEYWORDS[i % 7]}: {t} ({KEYWORDS[i % 7]})",
                    label=i % 7, lang="en") for i, t in enumerate(texts)]


def train_config(out: Path, fusion: str, injection: str, size: dict, steps: int, checkpoint_every: int = 10**9):
    from layerbridge.bridge import BridgeConfig
    from layerbridge.training.config import TrainConfig

    bridge = BridgeConfig(encoder="gpu-check-encoder", llm="gpu-check-llm", fusion=fusion, injection=injection,
                          normalize="layernorm", max_encoder_length=size["max_encoder_length"])
    return TrainConfig(task="sib200", output_dir=str(out), bridge=bridge, batch_size=size["batch_size"], max_steps=steps,
                       epochs=1000.0, learning_rate=1e-3, warmup_ratio=0.0, checkpoint_every=checkpoint_every,
                       log_every=1, mixed_precision="bf16", preset="gpu-check",
                       encoder_cache_gb=64.0)  # in RAM (paper shapes: 3.3 GB), not the default 0.5 GB's file


# ------------------------------------------------------------------------------ 1. throughput
def table_key(device_name: str) -> str | None:
    """The table's entry for a GPU name: the first key it contains (longer names come first)."""
    return next((key for key in BF16_PEAK_TFLOPS if key in device_name), None)


def peak_flops(device: torch.device, override_tflops: float | None) -> tuple[float | None, str]:
    """(dense bf16 peak FLOP/s, where it comes from): --peak-tflops, the table by GPU name, or on a
    CPU a measured bf16 matmul."""
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        key = table_key(name)
        if key:
            return BF16_PEAK_TFLOPS[key] * 1e12, f"table: {key}"
        return None, f"{name!r} is not in the table: give --peak-tflops"
    # the faster dtype: without native bf16 (AVX2) a bf16 matmul is emulated and slower than the
    # fp32 work the steps partly run, which would put MFU above 1
    rates = {dtype: matmul_peak(dtype, size=512, repeats=3) for dtype in (torch.bfloat16, torch.float32)}
    best = max(rates, key=rates.get)
    return rates[best], f"measured: {str(best).removeprefix('torch.')} matmul 512^3 on this CPU (the faster of bf16, fp32)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_shape(run, step: int) -> dict:
    """What step `step` trains on, as the recipe draws it: real encoder and LLM tokens, targets."""
    from layerbridge.training.batches import global_batch

    batch = global_batch(run.train_examples, step, run.cfg.batch_size, run.cfg.seed, run.lengths)
    enc = run.bridge.token_lengths([e.text for e in batch])
    targets = [len(run.targets_of[e.id]) for e in batch]
    return {"examples": len(batch), "enc": enc, "llm": [llm_length(run.bridge, s, t) for s, t in zip(enc, targets)],
            "targets": sum(targets)}


def profile_summary(run, first_step: int, steps: int, device: torch.device, top: int = 12) -> dict:
    """Where the time of `steps` training steps goes: the device's busy share of the wall time, the
    operator categories of benchmarks/profiling.py, the top operators (device time on a GPU)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.profiling import PHASE, category
    from layerbridge.training.recipe import train_step

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for step in range(first_step, first_step + steps):
            train_step(run, step)
        synchronize(device)
        wall_us = (time.perf_counter() - start) * 1e6
    events = prof.key_averages()
    on_device = device.type == "cuda"

    def own(e) -> float:
        if on_device:
            return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0.0)
        return e.self_cpu_time_total

    # The recipe's phase markers time each phase on the CPU; on a GPU they also appear on the device
    # timeline, as annotations spanning their kernels: kept apart, or kernels would count twice (and
    # the device copy, with no CPU time, would overwrite the CPU one in `phases`).
    markers = [e for e in events if e.key.startswith(PHASE)]
    timed = [e for e in events if not e.key.startswith(PHASE)]
    # Operators are CPU-side events (on a GPU: the kernel time each launched); kernels are device
    # events of their own, listed apart so that nothing is counted twice.
    ops = sorted((e for e in timed if e.device_type == DeviceType.CPU), key=own, reverse=True)
    kernels = sorted((e for e in timed if e.device_type != DeviceType.CPU), key=own, reverse=True)
    categories: dict[str, float] = {}
    for e in ops:
        categories[category(e.key)] = categories.get(category(e.key), 0.0) + own(e) / wall_us
    phases = {e.key[len(PHASE):]: round(e.cpu_time_total / wall_us, 3)
              for e in markers if e.device_type == DeviceType.CPU}
    busy = sum(own(e) for e in (kernels if on_device else ops)) / wall_us
    result = {"steps": steps, "wall_s": round(wall_us / 1e6, 3), "clock": "device" if on_device else "cpu",
              "busy_share": round(busy, 3), "phases_cpu_share": phases,
              "categories": {k: round(v, 3) for k, v in sorted(categories.items(), key=lambda kv: -kv[1])},
              "top_ops": [{"op": e.key, "share": round(own(e) / wall_us, 3), "calls": e.count} for e in ops[:top]]}
    if on_device:
        result["top_kernels"] = [{"kernel": e.key[:120], "share": round(own(e) / wall_us, 3), "calls": e.count}
                                 for e in kernels[:top]]
    return result


def run_arm(fusion: str, injection: str, models: tuple, size: dict, folder: Path, peak: float | None,
            device: torch.device) -> dict:
    """One fusion/injection: the first epoch (cache filling, timed apart), one step under the FLOP
    counter, then the timed steps; a profile where MFU < 40%."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from layerbridge.training.recipe import setup, train_step

    first, timed = size["epoch_steps"], size["steps"]
    total = first + 1 + timed + size["profile_steps"]
    data = examples(size["batch_size"] * first, size["join"])
    cfg = train_config(folder / f"{fusion}-{injection}", fusion, injection, size, total)
    with PeakMemory(device) as memory:
        run = setup(cfg, models=models, data=(data, []))
        run.model.train()
        started = time.perf_counter()
        losses = [train_step(run, step)[0] for step in range(first)]  # the encoder runs; the cache fills
        synchronize(device)
        first_epoch_s = time.perf_counter() - started
        # The counted step takes the math attention kernel: torch's FLOP formulas for the fused CUDA
        # kernels reject grouped-query shapes (the cross-attention's k/v heads < q heads, enable_gqa),
        # and the math kernel's matmuls are the same work. The timed steps keep torch's choice.
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            losses.append(train_step(run, first)[0])
        executed_per_step = counter.get_total_flops()
        shapes = [step_shape(run, step) for step in range(first + 1, first + 1 + timed)]
        synchronize(device)
        started = time.perf_counter()
        for step in range(first + 1, first + 1 + timed):
            losses.append(train_step(run, step)[0])
        synchronize(device)
        seconds = time.perf_counter() - started
    try:
        dims, useful = Dims.of(run.bridge), 0
        for s in shapes:
            useful += step_flops(dims, fusion, s["enc"], s["llm"], s["targets"], encoder_cached=run.cache is not None)["total"]
    except ValueError:  # cross-attention: the analytical model does not count it
        useful = None
    examples_done = sum(s["examples"] for s in shapes)
    result = {
        "fusion": fusion, "injection": injection, "batch_size": size["batch_size"], "timed_steps": timed,
        "first_epoch_steps": first, "first_epoch_s": round(first_epoch_s, 3), "step_s": round(seconds / timed, 4),
        "examples_per_s": round(examples_done / seconds, 2),
        "llm_tokens_per_s": round(sum(sum(s["llm"]) for s in shapes) / seconds, 1),
        "encoder_tokens_per_step": round(sum(sum(s["enc"]) for s in shapes) / timed, 1),
        "llm_padding": round(padding_fraction([s["llm"] for s in shapes]), 4),
        "peak_memory_gb": round(memory.peak_gb, 2), "memory_kind": "cuda allocated" if device.type == "cuda" else "cpu rss",
        "executed_tflop_per_step": round(executed_per_step / 1e12, 4),
        "useful_tflop_per_step": None if useful is None else round(useful / timed / 1e12, 4),
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
        "losses_finite": all(math.isfinite(x) for x in losses), "trainable": run.bridge.parameter_counts()["trainable"],
    }
    if peak:
        result["mfu_executed"] = round(executed_per_step * timed / seconds / peak, 4)
        result["mfu_useful"] = None if useful is None else round(useful / seconds / peak, 4)
        result["mfu"] = result["mfu_executed"] if useful is None else result["mfu_useful"]
        if result["mfu"] < MFU_AIM:
            result["profile"] = profile_summary(run, first + 1 + timed, size["profile_steps"], device)
    del run
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


# ------------------------------------------------------------------------------ 2. kill and resume
def resume_config(out: Path, size: dict):
    steps, every, _ = size["resume"]
    return train_config(out, "token_softmax", "input", size, steps, checkpoint_every=every)


def resume_data(size: dict) -> list:
    return examples(size["batch_size"] * 3, size["join"], offset=10_000)


def killed_child(args) -> None:
    """In a child process: train the resume run and SIGKILL this process after step `killed after`
    (between two checkpoints: the folder is what a scheduler's kill leaves)."""
    from layerbridge.training.recipe import fit, setup

    size = sizes(args)
    models = build_models(args.shape, torch.device(args.device), Path(args.tokenizers))
    torch.use_deterministic_algorithms(True, warn_only=True)
    run = setup(resume_config(Path(args.kill_run), size), models=models, data=(resume_data(size), []))
    for step in fit(run):
        if step == size["resume"][2]:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)


def trained_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "bridge.safetensors"))


def check_resume(args, models: tuple, size: dict, folder: Path) -> dict:
    from layerbridge.training.recipe import train

    steps, every, killed_after = size["resume"]
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        straight = train(resume_config(folder / "straight", size), models=models, data=(resume_data(size), []))
        killed = folder / "killed"
        child = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--kill-run", str(killed),
                                "--tokenizers", str(folder / "tokenizers"), "--shape", args.shape, "--device", args.device,
                                *(["--batch-size", str(args.batch_size)] if args.batch_size else [])],
                               cwd=REPO, capture_output=True, text=True, timeout=900)
        state = json.loads((killed / "checkpoint" / "trainer_state.json").read_text()) \
            if (killed / "checkpoint" / "trainer_state.json").is_file() else {}
        result = {"steps": steps, "checkpoint_every": every, "killed_after_step": killed_after,
                  "child_returncode": child.returncode, "checkpoint_step_at_kill": state.get("step"),
                  "bridge_saved_before_resume": (killed / "bridge.safetensors").exists()}
        if child.returncode != -signal.SIGKILL:
            result["child_stderr_tail"] = child.stderr[-2000:]
            result["equal"] = False
            return result
        train(resume_config(killed, size), resume=True, models=models, data=(resume_data(size), []))
    finally:
        torch.use_deterministic_algorithms(False)
    a, b = trained_weights(straight), trained_weights(killed)
    diffs = {k: (a[k].float() - b[k].float()).abs().max().item() for k in a if k in b}
    log = [json.loads(line)["step"] for line in (killed / "train_log.jsonl").read_text().splitlines()]
    result.update({"tensors": len(a), "same_tensors": a.keys() == b.keys(),
                   "equal": a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a),
                   "max_abs_diff": max(diffs.values(), default=None), "log_steps_complete": log == list(range(1, steps + 1))})
    result["straight"] = str(straight)
    return result


# ------------------------------------------------------------------------------ 3, 4. precision and generation
def scores(bridge, texts: list[str], labels: list[str], batch: int) -> torch.Tensor:
    return torch.cat([bridge.score(texts[i:i + batch], labels).float().cpu() for i in range(0, len(texts), batch)])


def check_precision_and_generation(models: tuple, size: dict, bridge_folder: Path) -> tuple[dict, dict]:
    """Rank agreement and generation with the bf16 models, then the same weights in float32
    (the models are cast in place: the last use of them)."""
    from layerbridge.bridge import LayerBridge

    bridge = LayerBridge.from_pretrained(bridge_folder, models=models)
    held_out = [e.text for e in examples(size["score_texts"], size["join"], offset=20_000)]
    prompts = held_out[:size["generate_texts"]]
    labels, batch = list(LABELS), max(1, size["batch_size"] // 2)
    gen = {"texts": len(prompts), "max_new_tokens": size["new_tokens"]}
    with torch.autocast(bridge.device.type, dtype=torch.bfloat16):
        low = scores(bridge, held_out, labels, batch)
        started = time.perf_counter()
        greedy = bridge.generate(prompts, max_new_tokens=size["new_tokens"])
        gen["greedy_s"] = round(time.perf_counter() - started, 3)
        again = bridge.generate(prompts, max_new_tokens=size["new_tokens"])
        started = time.perf_counter()
        beams = bridge.generate(prompts, max_new_tokens=size["new_tokens"], num_beams=4)
        gen["beam_s"] = round(time.perf_counter() - started, 3)
    models[0].float(), models[2].float()
    high = scores(bridge, held_out, labels, batch)
    greedy_fp32 = bridge.generate(prompts, max_new_tokens=size["new_tokens"])
    top2 = high.topk(2, dim=1).values
    confident = (top2[:, 0] - top2[:, 1]) > 0.5
    same = low.argmax(1) == high.argmax(1)
    rank = {"texts": len(held_out), "labels": len(labels), "top1_agreement": round(same.float().mean().item(), 4),
            "confident_texts": int(confident.sum()),
            "confident_agreement": round(same[confident].float().mean().item(), 4) if confident.any() else None,
            "max_abs_logprob_diff": round((low - high).abs().max().item(), 4),
            "fp32_accuracy_on_keywords": round((high.argmax(1) == torch.arange(len(held_out)) % 7).float().mean().item(), 4)}
    rank["ok"] = rank["top1_agreement"] >= 0.9 and rank["confident_agreement"] in (None, 1.0)
    gen.update({"greedy_repeatable": greedy == again, "beam_outputs": len(beams),
                "greedy_bf16_equals_fp32": round(sum(a == b for a, b in zip(greedy, greedy_fp32)) / len(prompts), 4),
                "examples": [{"greedy": g, "beam": b} for g, b in zip(greedy[:2], beams[:2])]})
    gen["ok"] = gen["greedy_repeatable"] and len(beams) == len(prompts) and all(isinstance(b, str) for b in beams)
    return rank, gen


# ------------------------------------------------------------------------------ the report
def markdown(result: dict) -> str:
    lines = [f"GPU check on {result['device_name']} ({result['shape']} shapes, bf16; peak {result['peak_tflops']} TFLOPS, "
             f"{result['peak_source']}), {result['wall_s']} s", "",
             "| arm | examples/s | LLM tokens/s | step s | peak GiB | MFU (useful) | MFU (executed) | loss first -> last |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for a in result["arms"]:
        lines.append(f"| {a['fusion']} / {a['injection']} | {a['examples_per_s']} | {a['llm_tokens_per_s']} | {a['step_s']} | "
                     f"{a['peak_memory_gb']} | {a.get('mfu_useful')} | {a.get('mfu_executed')} | {a['loss_first']} -> {a['loss_last']} |")
    for a in result["arms"]:
        if "profile" in a:
            p = a["profile"]
            cats = ", ".join(f"{k} {v:.0%}" for k, v in list(p["categories"].items())[:4])
            lines.append(f"- profile {a['fusion']}/{a['injection']} (MFU < {MFU_AIM:.0%}): {p['clock']} busy "
                         f"{p['busy_share']:.0%} of the wall time; {cats}; top operator: {p['top_ops'][0]['op'] if p['top_ops'] else '-'}"
                         + (f"; top kernel: {p['top_kernels'][0]['kernel'][:60]}" if p.get("top_kernels") else ""))
    r, q, g = result["resume"], result["bf16_vs_fp32"], result["generation"]
    lines += [f"- kill and resume: child exit {r['child_returncode']} after step {r['killed_after_step']}, checkpoint at step "
              f"{r['checkpoint_step_at_kill']}; resumed weights equal the uninterrupted ones: {r['equal']} "
              f"(max |diff| {r.get('max_abs_diff')})",
              f"- bf16 vs fp32 ranking: top-1 agreement {q['top1_agreement']:.1%} over {q['texts']} texts; "
              f"{q['confident_agreement']} where fp32's margin > 0.5 nats ({q['confident_texts']} texts); "
              f"max |log p diff| {q['max_abs_logprob_diff']}",
              f"- generation: greedy repeatable {g['greedy_repeatable']}, beam (4) outputs {g['beam_outputs']}/{g['texts']}, "
              f"greedy bf16 = fp32 on {g['greedy_bf16_equals_fp32']:.0%}",
              f"- checks: {', '.join(f'{k} {v}' for k, v in result['checks'].items())}"]
    return "\n".join(lines)


def sizes(args) -> dict:
    size = dict(SIZES[args.shape])
    for key in ("batch_size", "steps"):
        if getattr(args, key, None):
            size[key] = getattr(args, key)
    return size


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, a few steps (default without CUDA)")
    parser.add_argument("--batch-size", type=int, default=None, help="examples per step (paper shapes: 64)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per arm (paper shapes: 200)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, overriding the table")
    parser.add_argument("--out", default=None, help="folder for results.json and results.md")
    parser.add_argument("--kill-run", help=argparse.SUPPRESS)  # the child of the resume check
    parser.add_argument("--tokenizers", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.shape = args.shape or ("tiny" if args.tiny or args.device == "cpu" else "paper")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.kill_run:
        killed_child(args)
        return 1  # not reached: the child kills itself
    from layerbridge.machine import cpu_description

    started = time.perf_counter()
    device, size = torch.device(args.device), sizes(args)
    on_gpu = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if on_gpu else f"cpu ({cpu_description()})"
    peak, peak_source = peak_flops(device, args.peak_tflops)
    with tempfile.TemporaryDirectory(prefix="layerbridge-gpu-check-") as tmp:
        folder = Path(tmp)
        texts = [e.text for e in examples(256, size["join"])]
        for side, tok in zip(("encoder", "llm"), tokenizers(texts, size["tokenizer_vocab"])):
            tok.save_pretrained(folder / "tokenizers" / side)
        models = build_models(args.shape, device, folder / "tokenizers")
        result = {"command": "python -m benchmarks.gpu_check " + " ".join(argv if argv is not None else sys.argv[1:]),
                  "device_name": name, "shape": args.shape, "torch": torch.__version__,
                  "peak_tflops": None if peak is None else round(peak / 1e12, 3), "peak_source": peak_source,
                  "encoder_parameters": sum(p.numel() for p in models[0].parameters()),
                  "llm_parameters": sum(p.numel() for p in models[2].parameters()), "size": size, "arms": []}
        for fusion, injection in ARMS:
            result["arms"].append(run_arm(fusion, injection, models, size, folder, peak, device))
            print(json.dumps({k: v for k, v in result["arms"][-1].items() if k != "profile"}), flush=True)
        result["resume"] = check_resume(args, models, size, folder)
        result["bf16_vs_fp32"], result["generation"] = check_precision_and_generation(
            models, size, Path(result["resume"].pop("straight", folder / "straight")))
    result["checks"] = {"every_arm_trained": all(a["losses_finite"] for a in result["arms"]),
                        "resume_equal": bool(result["resume"]["equal"]), "bf16_rank_agreement": result["bf16_vs_fp32"]["ok"],
                        "generation": result["generation"]["ok"]}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    text = markdown(result)
    print(text)
    if args.out:
        out = Path(args.out)
    elif on_gpu and args.shape == "paper":
        out = REPO / "benchmarks" / "results" / "gpu" / re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    else:
        out = Path(tempfile.mkdtemp(prefix="layerbridge-gpu-check-out-"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(text + "\n")
    print(f"written: {out / 'results.json'}")
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
