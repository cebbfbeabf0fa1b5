"""Peak memory of a training run against the authors' pipeline's choices (issue 17), one process per arm.

    python -m benchmarks.authors_memory [--quick] [--out benchmarks/results/authors/memory.json]

The setting of the speed comparison (`python -m benchmarks.run --part authors`): fp32, batch 8,
XNLI English, every fusion. Each arm is a fresh process, so its peak resident memory is its own:
the default models loaded in float32, the real recipe set up over the whole English training set,
the encoder cache (when the arm has one) filled for all of it, as at the end of the first epoch,
then the first 8 steps and the epoch's longest batch (`benchmarks/memory.py`, the recipe's own
`train_step`). Arms: the authors' choices (the encoder recomputed every step in train mode, random
batches, full-vocabulary float32 logits at every position, the token gate over padded positions
too); layerbridge without the encoder cache (`--no-encoder-cache`), with it in RAM and with it in
a file (`--encoder-cache-dir`). By default the recipe keeps the cache in RAM up to
`--encoder-cache-gb` (0.5) and in a file above: the table marks which arm that is per fusion.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

from benchmarks import training
from benchmarks.common import default_data_dir
from layerbridge.io import atomic_write_text
from layerbridge.training.config import TrainConfig

FUSIONS = ("last", "global_softmax", "token_softmax")
AUTHORS, IN_RAM, IN_FILE = "the authors' choices", "layerbridge, encoder cache in RAM", "layerbridge, encoder cache in a file"
ARMS = {  # arm -> run_memory keywords
    AUTHORS: {"encoder_cache": False, "bucketing": False, "bridge_class": training.AuthorsBridge},
    "layerbridge, no encoder cache": {"encoder_cache": False},
    IN_RAM: {},
    IN_FILE: {"on_disk": True},
}
SIZES = {"full": {"rounds": 8, "texts": None}, "quick": {"rounds": 1, "texts": 64}}


def arm_settings(fusion: str, arm: str) -> tuple[str, dict]:
    """The fusion an arm trains (the authors' token gate runs over padded positions too) and its
    run_memory keywords."""
    return (training.authors_fusion(fusion) if arm == AUTHORS else fusion), dict(ARMS[arm])


def measure_arm(fusion: str, arm: str, quick: bool, data_dir: Path) -> dict:
    """In the child process: one arm's training run and its memory."""
    from benchmarks.common import Models, load_task_data
    from benchmarks.memory import run_memory

    sizes = SIZES["quick" if quick else "full"]
    task, train, _ = load_task_data("xnli", data_dir, 1)
    run_fusion, kw = arm_settings(fusion, arm)
    train = train[: sizes["texts"]] if sizes["texts"] else train
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    return run_memory(Models()("fp32"), task.name, train, sizes["rounds"], "fp32", fusion=run_fusion, log=log, **kw)


def markdown(doc: dict) -> str:
    lines = [f"- Command: `{doc['command']}`; {doc['machine']}",
             f"- fp32, batch {doc['batch']}, XNLI English ({doc['texts']} training texts); each arm in its own process: "
             f"models loaded, the encoder cache (if any) filled for every text, {doc['rounds']} steps and the epoch's "
             "longest batch", "",
             "| fusion | arm | GiB after loading | GiB after the cache | peak GiB | peak minus the authors' | "
             "longest batch (padded LLM positions) |", "|---|---|---:|---:|---:|---:|---:|"]
    for fusion, arms in doc["fusions"].items():
        theirs = arms[AUTHORS]["peak_rss_gb"]
        default = IN_RAM if arms[IN_RAM]["cache_estimate_gb"] <= TrainConfig.encoder_cache_gb else IN_FILE
        for name, r in arms.items():
            label = f"**{name} (the default: a {r['cache_estimate_gb']:.2f} GiB cache)**" if name == default else name
            lines.append(f"| {fusion} | {label} | {r['rss_after_load_gb']:.2f} | {r['rss_after_cache_gb']:.2f} | "
                         f"{r['peak_rss_gb']:.2f} | {r['peak_rss_gb'] - theirs:+.2f} | "
                         f"{r['longest_batch_padded_positions']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke version: 64 texts, one step and the longest batch")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=HERE / "results" / "authors" / "memory.json")
    parser.add_argument("--child", nargs=2, metavar=("FUSION", "ARM"), help=argparse.SUPPRESS)  # internal
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        atomic_write_text(args.child_out, json.dumps(measure_arm(*args.child, args.quick, args.data_dir)))
        return 0

    import torch

    from benchmarks.common import BATCH_SIZE
    from layerbridge.machine import cpu_description

    fusions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fusion in FUSIONS:
            fusions[fusion] = {}
            for arm in ARMS:
                out = Path(tmp) / "arm.json"
                cmd = [sys.executable, "-m", "benchmarks.authors_memory", "--child", fusion, arm, "--child-out", str(out),
                       "--data-dir", str(args.data_dir), *(["--quick"] if args.quick else [])]
                subprocess.run(cmd, check=True, cwd=HERE.parent)
                fusions[fusion][arm] = json.loads(out.read_text())
    sizes = SIZES["quick" if args.quick else "full"]
    first = fusions[FUSIONS[0]][IN_RAM]
    doc = {"command": "python -m benchmarks.authors_memory" + (" --quick" if args.quick else ""),
           "machine": f"{cpu_description()}, {os.cpu_count()} cores, torch {torch.__version__}",
           "batch": BATCH_SIZE, "rounds": sizes["rounds"], "texts": first["cache_texts"], "fusions": fusions}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(doc, indent=1) + "\n")
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
