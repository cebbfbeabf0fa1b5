"""The paper's scale without downloads: an encoder shaped like mT5-large's (24 layers, d_model 1024)
and an LLM shaped like Llama-3.2-1B (16 layers, hidden 2048, vocabulary 128,256), built from configs
with random weights, trained and scored through the real recipe (`layerbridge.training.recipe`'s
setup, fit and finish, which are `train`, and `evaluation.predict`) for a few steps per fusion.

    python -m benchmarks.paper_scale                   # 3 fusions x 4 steps of 8, ~10 minutes on 2 CPU cores
    python -m benchmarks.paper_scale --steps 2 --fusions last --out /tmp/ps   # quicker
    python -m benchmarks.paper_scale --join 8 --fusions token_softmax --steps 3  # inputs at the 200-token cap

Prints and writes (--out: results.json, results.md) per fusion: the mean step time after the first
step, examples/s, the peak resident memory during training (CPU) or the peak allocated CUDA memory
(GPU), and rank-scoring throughput. The texts are real English SIB-200 training sentences when the
data folder is there (else a built-in sentence repeated), tokenized by the default E5 (XLM-R
sentencepiece, the same kind of vocabulary as mT5's) and SmolLM2 tokenizers: their ids fall inside
the random models' vocabularies, so lengths are realistic. Weights are random: only speed and
memory mean anything here, never accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

import torch

from benchmarks.common import default_data_dir, resolve_precision, rss_gb
from layerbridge.machine import cpu_description

FUSIONS = ("last", "global_softmax", "token_softmax")
LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]
FALLBACK_TEXT = "The committee said on Tuesday that the new bridge over the river would open to traffic next spring."


def encoder_config():
    """google/mt5-large's encoder: 24 layers, d_model 1024, 16 heads of 64, gated-GELU FFN 2816."""
    from transformers import T5Config

    return T5Config(vocab_size=250112, d_model=1024, d_kv=64, d_ff=2816, num_layers=24, num_heads=16,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False)


def llm_config():
    """meta-llama/Llama-3.2-1B: 16 layers, hidden 2048, 32 heads / 8 KV heads, FFN 8192, tied embeddings."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                       num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
                       rope_theta=500000.0, tie_word_embeddings=True)


def build_models(dtype: torch.dtype, device: torch.device) -> tuple:
    """(encoder, encoder tokenizer, llm, llm tokenizer): random weights in the paper's shapes, the
    default models' tokenizers."""
    from transformers import LlamaForCausalLM, T5EncoderModel

    from layerbridge.bridge import BridgeConfig
    from layerbridge.sources import load_encoder, load_llm

    defaults = BridgeConfig()
    _, encoder_tokenizer = load_encoder(defaults.encoder)
    _, llm_tokenizer = load_llm(defaults.llm)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise directly in the held dtype (half the memory and time)
    try:
        encoder = T5EncoderModel(encoder_config()).eval().to(device)
        llm = LlamaForCausalLM(llm_config()).eval().to(device)
    finally:
        torch.set_default_dtype(previous)
    return encoder, encoder_tokenizer, llm, llm_tokenizer


def english_texts(n: int, join: int = 1) -> list[str]:
    """n texts, each `join` consecutive English sentences (join > 1: longer inputs, up to the cap)."""
    path = default_data_dir() / "sib200" / "eng_Latn" / "train.jsonl"
    sentences = []
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        sentences = [r["text"] for r in rows if r.get("text")]
    sentences = sentences or [f"{FALLBACK_TEXT} ({i})" for i in range(64)]
    return [" ".join(sentences[(i * join + j) % len(sentences)] for j in range(join)) for i in range(n)]


class PeakMemory:
    """Peak memory while the block runs: allocated CUDA memory on a GPU, else the process's resident
    memory sampled every 5 ms (ru_maxrss would keep the peak of everything before)."""

    def __init__(self, device: torch.device):
        self.device, self.peak_gb, self._stop = device, 0.0, threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak_gb = max(self.peak_gb, rss_gb())
            time.sleep(0.005)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak_gb = torch.cuda.max_memory_allocated(self.device) / 2**30
        else:
            self._stop.set()
            self._thread.join()


def run_fusion(fusion: str, models, args, precision: str, folder: Path) -> dict:
    from layerbridge.bridge import BridgeConfig, LayerBridge
    from layerbridge.evaluation.predict import predict
    from layerbridge.evaluation.recipe import autocast
    from layerbridge.tasks.base import Example
    from layerbridge.training.config import TrainConfig
    from layerbridge.training.recipe import finish, fit, setup

    texts = english_texts(args.batch_size * args.steps, args.join)
    examples = [Example(id=f"paper-scale/en/train/{i}", text=t, label=i % len(LABELS), lang="en")
                for i, t in enumerate(texts)]
    bridge_cfg = BridgeConfig(encoder="mt5-large-shaped", llm="llama-3.2-1b-shaped", fusion=fusion,
                              normalize="layernorm", max_encoder_length=args.max_encoder_length)
    cfg = TrainConfig(task="sib200", output_dir=str(folder / fusion), bridge=bridge_cfg, batch_size=args.batch_size,
                      max_steps=args.steps, epochs=1.0, learning_rate=1e-4, warmup_ratio=0.0, checkpoint_every=10**9,
                      mixed_precision="bf16" if precision == "bf16" else "no", preset="paper-scale-benchmark")
    stamps = [time.perf_counter()]
    with PeakMemory(models[2].device) as peak:  # `train`, with a time stamp after each step
        run = setup(cfg, models=models, data=(examples, []))
        for _ in fit(run):
            stamps.append(time.perf_counter())
        finish(run)
        del run
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    timed = steps[1:] or steps  # the first step also builds the schedule's and allocator's state
    bridge = LayerBridge.from_pretrained(folder / fusion, models=models)
    score_texts = english_texts(args.score_examples, args.join)
    started = time.perf_counter()
    with autocast(bridge, cfg.mixed_precision):
        predict(bridge, score_texts, LABELS, mode="rank", batch_size=args.batch_size)
    scoring_s = time.perf_counter() - started
    lengths = bridge.token_lengths(texts)
    return {"fusion": fusion, "steps": len(steps), "first_step_s": round(steps[0], 2),
            "step_s": round(statistics.mean(timed), 2), "examples_per_s": round(args.batch_size / statistics.mean(timed), 3),
            "peak_gb": round(peak.peak_gb, 2), "scoring_examples_per_s": round(args.score_examples / scoring_s, 3),
            "mean_encoder_tokens": round(statistics.mean(lengths), 1), "trainable": bridge.parameter_counts()["trainable"]}


def markdown(result: dict) -> str:
    m = result["machine"]
    rows = ["| fusion | trainable parameters | step s (after the first) | examples/s | peak GiB during training | rank scoring examples/s |",
            "|---|---:|---:|---:|---:|---:|"]
    for r in result["fusions"]:
        rows.append(f"| `{r['fusion']}` | {r['trainable']:,} | {r['step_s']} | {r['examples_per_s']} | {r['peak_gb']} | "
                    f"{r['scoring_examples_per_s']} |")
    return "\n".join([
        f"mT5-large-shaped encoder ({m['encoder_parameters'] / 1e9:.2f}B parameters) -> Llama-3.2-1B-shaped LLM "
        f"({m['llm_parameters'] / 1e9:.2f}B), random weights held in {m['dtype']}, {m['precision']} compute, on {m['device']}"
        f" ({m['cpu']}, {m['cores']} cores); batch {result['batch_size']}, {result['steps']} steps per fusion, "
        f"{result['fusions'][0]['mean_encoder_tokens']} encoder tokens per text on average (cap {result.get('max_encoder_length', 200)}); "
        f"{m['rss_after_load_gb']:.2f} GiB resident after building the models.", "", *rows])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fusions", default=",".join(FUSIONS))
    parser.add_argument("--steps", type=int, default=4, help="optimiser steps per fusion (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=8, help="the paper's effective batch")
    parser.add_argument("--max-encoder-length", type=int, default=200, help="the paper's")
    parser.add_argument("--score-examples", type=int, default=16)
    parser.add_argument("--join", type=int, default=1,
                        help="sentences per text (e.g. 8: inputs at the paper's 200-token cap, for its worst-case memory)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--out", default=None, help="folder for results.json and results.md")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = "bf16" if device.type == "cuda" and args.precision != "fp32" else resolve_precision(args.precision)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    models = build_models(dtype, device)
    machine = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "cpu": cpu_description(), "cores": __import__("os").cpu_count(), "torch": torch.__version__,
               "precision": precision, "dtype": str(dtype).removeprefix("torch."), "rss_after_load_gb": rss_gb(),
               "encoder_parameters": sum(p.numel() for p in models[0].parameters()),
               "llm_parameters": sum(p.numel() for p in models[2].parameters())}
    result = {"machine": machine, "batch_size": args.batch_size, "steps": args.steps, "join": args.join,
              "max_encoder_length": args.max_encoder_length, "fusions": []}
    with tempfile.TemporaryDirectory(prefix="layerbridge-paper-scale-") as folder:
        for fusion in args.fusions.split(","):
            result["fusions"].append(run_fusion(fusion, models, args, precision, Path(folder)))
            print(json.dumps(result["fusions"][-1]), flush=True)
    text = markdown(result)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "results.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
