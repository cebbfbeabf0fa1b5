"""Why did token_softmax + layer norm train well in fp32 and badly in bf16? (issue 7; docs/fusion-study.md)

Trains the token gate on English SIB-200 (small-data preset, layer norm, all 12 layer outputs) under
several precision variants and settings, and the default global_softmax in bf16 as the reference;
scores each run on English and five low-resource languages (50 stratified test sentences each, bf16
rank evaluation), and records which hidden state the fusion puts its weight on (mean per-token
weights over 16 English dev sentences).

Variants (diagnostic: the last two exist only here):
  bf16        bf16 autocast, frozen encoder and LLM held in bf16 (what `--mixed-precision bf16` does)
  fp32        no autocast, everything fp32 (`--mixed-precision no`)
  fp32fusion  as bf16, but the fusion (gate + mixing) runs in fp32 outside autocast
  fp32frozen  as bf16, but the frozen encoder and LLM are held in fp32 (autocast still on)

Usage: LAYERBRIDGE_DATA_DIR=../shared/data python studies/token-gate/collapse.py [--out DIR]
       [--runs VARIANT:SEED[:init=last][:flr=3e-4][:fusion=global_softmax][:norm=none] ...]
Finished steps are skipped (a killed run resumes). Each finished run is folded into RUN/run.json
(python -m tools.run_record: the one file of the run that results/ keeps); one row per run goes to
summary.json, which `python -m tools.make_docs` renders as the table of docs/fusion-study.md.
Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.loading import load_models
from layerbridge.evaluation.recipe import evaluate
from layerbridge.io import atomic_write_text
from layerbridge.reporting.tables import write_evaluation
from layerbridge.tasks import get_task, load_train_dev
from layerbridge.training.config import TrainConfig, apply_preset
from layerbridge.training.recipe import train
from layerbridge.training.summary import layer_use

LANGUAGES = ["eng_Latn", "swh_Latn", "tam_Taml", "sin_Sinh", "amh_Ethi", "yor_Latn"]
LOW = LANGUAGES[1:]
DEFAULT_RUNS = (["bf16:0", "fp32fusion:0", "fp32frozen:0", "fp32:0", "bf16:1", "bf16:2"]
                + [f"bf16:{s}:init=last" for s in (0, 1, 2)] + [f"bf16:{s}:flr=3e-4" for s in (0, 1, 2)]
                + [f"bf16:{s}:fusion=global_softmax:norm=none" for s in (0, 1, 2)])


def parse_run(spec: str) -> dict:
    variant, seed, *extra = spec.split(":")
    if variant not in ("bf16", "fp32", "fp32fusion", "fp32frozen"):
        raise SystemExit(f"--runs {spec!r}: unknown variant {variant!r}")
    run = {"variant": variant, "seed": int(seed), "fusion": "token_softmax", "norm": "layernorm", "init": None, "flr": None}
    for item in extra:
        key, _, value = item.partition("=")
        if key not in ("fusion", "norm", "init", "flr"):
            raise SystemExit(f"--runs {spec!r}: unknown setting {key!r} (fusion=, norm=, init=, flr=)")
        run[key] = value
    name = f"{run['fusion']}-{run['norm']}-{variant}"
    name += (f"-init={run['init']}" if run["init"] else "") + (f"-flr={run['flr']}" if run["flr"] else "")
    run["name"] = f"{name}-s{run['seed']}"
    return run


def fusion_in_fp32(self, states, mask):
    """LayerBridge.soft_tokens with the fusion outside autocast (the fp32fusion variant)."""
    with torch.autocast(states.device.type, enabled=False):
        fused, weights = self.fusion(states.float(), mask)
    return self.projector(fused), mask, weights


def train_run(run: dict, folder: Path) -> None:
    config = BridgeConfig(fusion=run["fusion"], normalize=run["norm"],
                          fusion_options={"init": run["init"]} if run["init"] else {})
    cfg = TrainConfig(**apply_preset("small-data", dict(
        task="sib200", output_dir=str(folder), bridge=config, seed=run["seed"], checkpoint_every=10_000,
        mixed_precision="no" if run["variant"] == "fp32" else "bf16",
        fusion_learning_rate=float(run["flr"]) if run["flr"] else None)))
    frozen = torch.float32 if run["variant"] in ("fp32", "fp32frozen") else torch.bfloat16
    original = LayerBridge.soft_tokens
    if run["variant"] == "fp32fusion":
        LayerBridge.soft_tokens = fusion_in_fp32
    try:
        train(cfg, overwrite=True, models=load_models(config, dtype=frozen))
    finally:
        LayerBridge.soft_tokens = original


def evaluate_run(folder: Path) -> None:
    task = get_task("sib200")
    bridge = LayerBridge.from_pretrained(folder, dtype=torch.bfloat16)
    results = evaluate(bridge, task, LANGUAGES, mode="rank", limit=50, mixed_precision="bf16")
    write_evaluation(folder / "eval-bf16", results, task=task,
                     meta={"bridge": str(folder), "mode": "rank", "mixed_precision": "bf16", "limit": 50, "seed": 0,
                           "bridge_config": bridge.config.to_dict()})


def layer_weights_run(folder: Path) -> None:
    """The fusion's layer use on the same 16 English dev texts (seed-0 carve-out) for every run."""
    _, dev = load_train_dev(get_task("sib200"), seed=0)
    bridge = LayerBridge.from_pretrained(folder).eval()
    use = layer_use(bridge, [e.text for e in dev[:16]])
    atomic_write_text(folder / "layer_weights.json", json.dumps({
        "hidden_states": bridge.layer_indices, "mean_weights": use["dev_layer_weights"],
        "mean_max_weight_per_token": use["dev_top_weight_per_token"]}, indent=2))


def record_run(folder: Path) -> None:
    """Fold the run's files into FOLDER/run.json (tools/run_record.py, run from the repository root)."""
    subprocess.run([sys.executable, "-m", "tools.run_record", str(folder.resolve())], check=True,
                   cwd=Path(__file__).resolve().parents[2])


def summarise(run: dict, record: dict) -> dict:
    """The summary row of one run from its run.json."""
    summary = record["train"]
    accuracy = {lang: r["accuracy"] for lang, r in record["evaluations"]["eval-bf16"]["languages"].items()}
    lw = record["layer_weights"]
    top = max(range(len(lw["mean_weights"])), key=lw["mean_weights"].__getitem__)
    return {**{k: run[k] for k in ("name", "fusion", "norm", "variant", "seed", "init", "flr")},
            "dev_accuracy": summary["dev_accuracy"], "english": accuracy["eng_Latn"],
            "low_resource": round(sum(accuracy[lang] for lang in LOW) / len(LOW), 4),
            "top_hidden_state": lw["hidden_states"][top], "top_weight": lw["mean_weights"][top]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/fusion-study/token-gate")
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS)
    args = parser.parse_args()
    if not os.environ.get("LAYERBRIDGE_DATA_DIR"):
        print("note: LAYERBRIDGE_DATA_DIR is not set; SIB-200 comes from the hub")
    out = Path(args.out)
    rows = []
    for run in map(parse_run, args.runs):
        folder = out / run["name"]
        if not (folder / "run.json").is_file():
            if not (folder / "train_summary.json").is_file():
                train_run(run, folder)
            if not (folder / "eval-bf16" / "results.json").is_file():
                evaluate_run(folder)
            if not (folder / "layer_weights.json").is_file():
                layer_weights_run(folder)
            record_run(folder)
        rows.append(summarise(run, json.loads((folder / "run.json").read_text())))
    atomic_write_text(out / "summary.json", json.dumps(rows, indent=2))
    print(json.dumps(rows, indent=2))
    print("table: python -m tools.make_docs (docs/fusion-study.md, block token-gate)")


if __name__ == "__main__":
    main()
