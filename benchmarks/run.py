"""Speed benchmark of layerbridge on this machine (issue 5).

    python -m benchmarks.run            # the full benchmark (< 15 minutes on a 2-core CPU)
    python -m benchmarks.run --quick    # a smoke version (~2.5 minutes), same code path
    python -m benchmarks.run --precision fp32   # fp32 only (default auto: bf16 arms only with native bf16)

Offline default models (multilingual-e5-small + SmolLM2-135M-Instruct), real English rows of the
task (XNLI by default) from the data folder. Twelve parts, each in its own process so that each
reports its own peak memory: training throughput, the ablation, every fusion against the authors'
pipeline's choices re-created in our recipe, evaluation, the profile, training
speed on long inputs (the Perceiver against one soft token per encoder token), and the
memory of a training run in bf16 and in fp32: its encoder cache in memory, on disk, and on disk
with the LLM's layers checkpointed. The precision follows the recipe's
(`--mixed-precision auto`): bf16 arms only where the CPU has native bf16 (AVX512-BF16 / AMX); without
it everything runs in fp32 and the bf16 memory parts are skipped (--precision overrides). Inside a part every configuration is measured side
by side (round-robin), so a slow spell of the machine hits all alike; still, other processes'
threads competing for the 2 cores make step times erratic, so the run records how much CPU others
used during each part (and --wait-quiet waits for a quiet machine before each part).
Results: printed as Markdown, and written to --out as results.json and results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from benchmarks.report import PARTS

PRECISION_REASONS = {
    "auto": {True: "native bf16 on this CPU: bf16, as --mixed-precision auto does",
             False: "no native bf16 on this CPU: fp32, as --mixed-precision auto does"},
    "bf16": {True: "bf16 asked for (--precision bf16); this CPU has native bf16",
             False: "bf16 asked for (--precision bf16) although this CPU has no native bf16 (emulated: slow)"},
    "fp32": {True: "fp32 asked for (--precision fp32), although this CPU has native bf16",
             False: "fp32 asked for (--precision fp32); this CPU has no native bf16"},
}
SIZES = {  # timed steps per configuration, evaluation examples, profiled steps, authors' generation cap,
    # texts in the memory run's encoder cache (None: the whole English training set)
    "full": {"train_rounds": 8, "ablation_rounds": 8, "eval_examples": 128, "profile_steps": 2,
             "paper_generate_cap": 512, "memory_texts": None},
    "quick": {"train_rounds": 1, "ablation_rounds": 1, "eval_examples": 16, "profile_steps": 1,
              "paper_generate_cap": 64, "memory_texts": 64},
}


def parts_for(precision: str) -> tuple[str, ...]:
    """The parts to run: without bf16, no bf16 memory runs."""
    return PARTS if precision == "bf16" else tuple(p for p in PARTS if not p.startswith("memory_bf16"))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke version: one timed step per configuration")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $LAYERBRIDGE_DATA_DIR or ../shared/data)")
    parser.add_argument("--out", default=None,
                        help="folder for results.json and results.md (default: benchmarks/results/full; with "
                             "--quick a new temporary folder, so a smoke run never replaces the committed one)")
    parser.add_argument("--task", default="xnli", help="task whose English rows are used (default: xnli)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="auto (default): bf16 arms only where the CPU has native bf16, as the recipe's "
                             "--mixed-precision auto; fp32: fp32 only; bf16: bf16 arms next to fp32 arms")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="before each part, wait up to SECONDS for other processes to leave the CPU idle")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # internal: run one part
    parser.add_argument("--part-out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ one part (child)
def run_part(args) -> dict:
    from benchmarks.common import Models, default_data_dir, load_task_data, make_bridge, resolve_precision, training_batches

    base = resolve_precision(args.precision)  # the parent passes it resolved; "auto" resolves the same
    sizes = SIZES["quick" if args.quick else "full"]
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    models = Models()  # models(precision): loaded on first use, as the recipe loads them for that precision
    task, train, test = load_task_data(args.task, data_dir, sizes["eval_examples"])
    if args.part == "evaluation":
        from benchmarks.evaluation import run_evaluation

        return run_evaluation(models, task, test, sizes["paper_generate_cap"], precision=base, log=log)
    if args.part == "long_inputs":
        from benchmarks.long_inputs import run_long_inputs

        return run_long_inputs(models(base), data_dir, sizes["train_rounds"], precision=base, log=log)
    probe = make_bridge(models("bf16" if args.part.startswith("memory_bf16") else "fp32"), "last")
    rounds = {"training": sizes["train_rounds"], "ablation": sizes["ablation_rounds"],
              "profile": sizes["profile_steps"]}.get(args.part, sizes["train_rounds"])
    batches = training_batches(probe, train, probe.target_ids(task.label_words), max(rounds, 2))
    if args.part == "training":
        from benchmarks.training import run_training

        return run_training(models, task.name, batches, rounds, precision=base, log=log)
    if args.part == "ablation":
        from benchmarks.training import run_ablation

        return run_ablation(models, task.name, batches, rounds, precision=base, log=log)
    if args.part == "authors":
        from benchmarks.training import run_authors

        return run_authors(models, task.name, batches, rounds, log=log)
    if args.part == "profile":
        from benchmarks.profiling import run_profile

        return run_profile(models, task.name, batches, rounds, precision=base, log=log)
    from benchmarks.memory import run_memory

    train_texts = train[: sizes["memory_texts"]] if sizes["memory_texts"] else train
    precision = args.part.split("_")[1]
    return run_memory(models(precision), task.name, train_texts, rounds, precision=precision,
                      on_disk="_disk" in args.part, checkpointing=args.part.endswith("_checkpointed"), log=log)


def busy_cpu_seconds() -> float:
    """CPU seconds spent busy by everything on the machine since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def others_cpu_share(seconds: float = 3.0) -> float:
    """Share of the machine's cores other processes keep busy, sampled over `seconds`."""
    before = busy_cpu_seconds()
    time.sleep(seconds)
    return (busy_cpu_seconds() - before) / (seconds * os.cpu_count())


def wait_until_quiet(limit_s: float) -> None:
    """Wait (up to limit_s) until other processes use under 10% of the machine."""
    deadline = time.monotonic() + limit_s
    while limit_s > 0 and (share := others_cpu_share()) > 0.10:
        if time.monotonic() > deadline:
            log(f"still busy ({share:.0%} of the CPU used by other processes); measuring anyway")
            return
        log(f"waiting for a quiet machine: other processes use {share:.0%} of the CPU")
        time.sleep(20)


def spawn_part(part: str, args) -> dict:
    """Run one part in a fresh process (its own peak memory) and read back its JSON, with the
    share of the CPU other processes took meanwhile (their threads compete with ours)."""
    wait_until_quiet(args.wait_quiet)
    busy, ours = busy_cpu_seconds(), children_cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{part}.json"
        cmd = [sys.executable, "-m", "benchmarks.run", "--part", part, "--part-out", str(out), "--task", args.task,
               "--precision", args.precision]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--data-dir", args.data_dir] if args.data_dir else []
        started = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=HERE.parent)  # the repository root: `benchmarks` is a package
        result = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - started
    others = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - ours)
    result["others_cpu_share"] = max(0.0, others / (result["wall_s"] * os.cpu_count()))
    log(f"{part}: done in {result['wall_s']:.0f} s (other processes used {result['others_cpu_share']:.0%} of the CPU)")
    return result


# ------------------------------------------------------------------------------ the whole run
def machine(precision: str) -> dict:
    import torch
    import transformers

    from layerbridge.machine import cpu_description

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    return {"cpu": cpu_description(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "transformers": transformers.__version__, "commit": commit or "?",
            "load_before": os.getloadavg()[0],
            "models": "multilingual-e5-small + SmolLM2-135M-Instruct (BridgeConfig() defaults); weights float32"
                      + (", held in bf16 for the bf16 runs" if precision == "bf16" else "")}


def precision_choice(requested: str) -> dict:
    """The precision used (bf16 arms or fp32 only) and why."""
    from benchmarks.common import resolve_precision
    from layerbridge.precision import native_bf16

    native = native_bf16()
    return {"requested": requested, "used": resolve_precision(requested), "native_bf16": native,
            "reason": PRECISION_REASONS[requested][native]}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.part:
        result = run_part(args)
        Path(args.part_out).write_text(json.dumps(result, indent=1))
        return 0
    from benchmarks.report import markdown

    started = time.perf_counter()
    command = " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)])
    precision = precision_choice(args.precision)
    args.precision = precision["used"]  # the children get it resolved
    log(f"precision: {precision['reason']}")
    results = {"command": command, "mode": "quick" if args.quick else "full",
               "sizes": SIZES["quick" if args.quick else "full"], "machine": machine(precision["used"]),
               "precision": precision, "data": f"English {args.task} rows from the local data folder"}
    load, cores = results["machine"]["load_before"], results["machine"]["cores"]
    if load > 0.5 * cores:
        log(f"warning: load average {load:.1f} on {cores} cores: other processes are running; with more busy "
            "threads than cores, step times become erratic (ratios within a part still compare like with like)")
    for part in parts_for(precision["used"]):
        log(f"== {part}")
        results[part] = spawn_part(part, args)
    results["machine"]["load_after"] = os.getloadavg()[0]
    results["wall_s"] = time.perf_counter() - started
    text = markdown(results)
    print(text)
    out = Path(args.out or (tempfile.mkdtemp(prefix="layerbridge-bench-") if args.quick else HERE / "results" / "full"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(text)
    log(f"written: {out / 'results.json'}, {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
