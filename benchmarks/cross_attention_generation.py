"""Generation with LayAlign's cross-attention: each layer's encoder keys and values once per call.

    python -m benchmarks.cross_attention_generation [--batches 4] [--out benchmarks/results/cross-attention]

While an LLM writes, every decoder layer runs once per new token; the cross-attention injection's
encoder side (the layer's mix of encoder layers, the adapter, the layer's k/v projections) does not
change during the call, so `CrossAttentionInjection` computes it once per layer and call and reuses
it (`reuse_encoder_side`, on by default). Arms, side by side through the real `LayerBridge.generate`
on FLORES-200 Sinhala sentences (flores_en's test texts, batches of 8, greedy, 48 new tokens, no
early stop; gate parameters set to 0.5, tanh 0.46, so that the cross-attention changes what is
written and the outputs' comparison means something): the plain bridge (soft tokens only),
cross-attention with the reuse, cross-attention recomputing the encoder side at every token.
Models as `--mixed-precision auto` loads them (bf16 where the CPU has it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

from benchmarks.common import SEED, Arm, Models, default_data_dir, interleave, peak_rss_gb, resolve_precision
from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.evaluation.recipe import autocast
from layerbridge.io import atomic_write_text

BATCH = 8
NEW_TOKENS = 48
LANGUAGE = "sin_Sinh"
ARMS = {"plain bridge (soft tokens only)": ("input", True),
        "cross-attention, encoder side reused": ("cross_attention", True),
        "cross-attention, encoder side at every token": ("cross_attention", False)}


def make_bridges(models: tuple) -> dict[str, LayerBridge]:
    bridges = {}
    for name, (injection, reuse) in ARMS.items():
        torch.manual_seed(SEED)
        bridge = LayerBridge(BridgeConfig(injection=injection, llm_input="soft+instruction",
                                          instruction="Translate into English: "), *models).eval()
        if injection == "cross_attention":
            with torch.no_grad():
                bridge.injection.gate.fill_(0.5)
            bridge.injection.reuse_encoder_side = reuse
        bridges[name] = bridge
    return bridges


def measure(batches: int, precision: str, data_dir: Path, log=print) -> dict:
    from layerbridge.tasks import get_task, load_examples

    texts = [e.text for e in load_examples(get_task("flores_en"), LANGUAGE, data_dir=data_dir, source="local",
                                           limit=BATCH * batches, seed=SEED)]
    bridges = make_bridges(Models()(precision))
    outputs: dict[str, list[str]] = {name: [] for name in ARMS}

    def arm(name: str) -> Arm:
        bridge = bridges[name]

        def call(batch):
            with autocast(bridge, "bf16" if precision == "bf16" else "no"):
                return bridge.generate(batch, max_new_tokens=NEW_TOKENS, stop_at_newline=False, stop_after_text=False)

        def run(r):
            outputs[name][r * BATCH:(r + 1) * BATCH] = call(texts[r * BATCH:(r + 1) * BATCH])

        return Arm(name, run=run, warmup=lambda: call(texts[:2]))

    arms = [arm(name) for name in ARMS]
    interleave(arms, batches, log=log)
    same = outputs["cross-attention, encoder side reused"] == outputs["cross-attention, encoder side at every token"]
    return {"precision": precision, "language": LANGUAGE, "texts": len(texts), "batch": BATCH, "new_tokens": NEW_TOKENS,
            "same_outputs_with_and_without_reuse": same, "peak_rss_gb": round(peak_rss_gb(), 2),
            "arms": {a.name: {"seconds": [round(s, 3) for s in a.seconds],
                              "texts_per_second": round(len(texts) / sum(a.seconds), 3)} for a in arms}}


def markdown(doc: dict) -> str:
    base = doc["arms"]["cross-attention, encoder side at every token"]["texts_per_second"]
    lines = [f"- Command: `{doc['command']}`; {doc['machine']}",
             f"- {doc['texts']} FLORES-200 {doc['language']} sentences, batches of {doc['batch']}, greedy, "
             f"{doc['new_tokens']} new tokens, {doc['precision']}; the same outputs with and without the reuse: "
             f"{'yes' if doc['same_outputs_with_and_without_reuse'] else 'NO'}", "",
             "| arm | texts/s | median batch s | speed vs recomputing |", "|---|---|---|---|"]
    for name, arm in doc["arms"].items():
        lines.append(f"| {name} | {arm['texts_per_second']:.2f} | {statistics.median(arm['seconds']):.2f} | "
                     f"{arm['texts_per_second'] / base:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from layerbridge.machine import cpu_description

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4, help="timed batches of 8 texts per arm")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cross-attention")
    args = parser.parse_args(argv)
    doc = measure(args.batches, resolve_precision(args.precision), args.data_dir)
    doc["command"] = "python -m benchmarks.cross_attention_generation" + (
        f" --batches {args.batches}" if args.batches != 4 else "")
    doc["machine"] = (f"{cpu_description()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                      f"load average {os.getloadavg()[0]:.2f} at the end")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "results.json", json.dumps(doc, indent=1) + "\n")
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
