"""`layerbridge lm-eval`: run EleutherAI lm-evaluation-harness tasks on a saved bridge.

    layerbridge lm-eval runs/sib --tasks my_sib200 --include-path tasks/ --limit 50 -o runs/sib/lm-eval

The encoder reads each request's context, the LLM scores or writes the answer
(`layerbridge.integrations.lm_eval`, docs/lm-eval.md). Writes OUT/results.json (the harness's
results, with "layerbridge": {..., "truncated": per task, contexts cut, "generation": the decoding
generate_until used, the bridge's generation_config.json else greedy}), OUT/results.md (its table) and
OUT/samples_<task>.jsonl (every request and response). A context longer than the encoder reads
keeps its end (--truncation-side left): a few-shot prompt puts its question last.
Needs the optional extra: pip install -e ".[lm-eval]".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from layerbridge.cli.options import comma_list
from layerbridge.errors import ConfigError
from layerbridge.io import atomic_write_text


def register(sub) -> None:
    parser = sub.add_parser("lm-eval", help="run lm-evaluation-harness tasks on a saved bridge",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bridge", help="folder of a saved bridge")
    parser.add_argument("--tasks", required=True, help="comma-separated harness task (or group) names")
    parser.add_argument("--include-path", default=None, help="a folder of your own task YAML files")
    parser.add_argument("--limit", type=float, default=None, help="examples per task (a fraction if < 1)")
    parser.add_argument("--num-fewshot", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "auto"])
    parser.add_argument("--no-eos", action="store_true",
                        help="score continuations without the EOS the bridge learned to end answers with")
    parser.add_argument("--truncation-side", default="left", choices=["left", "right"],
                        help="a context longer than max_encoder_length keeps its end (left, default: a few-shot "
                             "prompt ends with its question) or its start (right)")
    parser.add_argument("--max-encoder-length", type=int, default=None,
                        help="encoder tokens per context (default: the bridge's; at most the encoder's positions)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--output-dir", "-o", required=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
        from lm_eval.utils import handle_non_serializable, make_table

        from layerbridge.integrations.lm_eval import LayerBridgeLM
    except ImportError as err:
        raise ConfigError(f"layerbridge lm-eval needs the evaluation harness ({err}); install the extra: "
                          "pip install -e \".[lm-eval]\"") from err
    tasks = comma_list(args.tasks)
    if args.include_path and not Path(args.include_path).is_dir():
        raise ConfigError(f"--include-path {args.include_path}: no such folder")
    manager = TaskManager(include_path=args.include_path)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise ConfigError(f"--tasks: unknown harness task(s) {unknown}" +
                          ("" if args.include_path else "; your own YAML tasks need --include-path DIR"))
    from layerbridge.bridge.lineage import refuse_seen
    from layerbridge.precision import resolve

    model = LayerBridgeLM(args.bridge, batch_size=args.batch_size, mixed_precision=resolve(args.mixed_precision),
                          add_eos=not args.no_eos, cache_dir=args.cache_dir, truncation_side=args.truncation_side,
                          max_encoder_length=args.max_encoder_length)
    for task in tasks:  # its training saw the task's rows (docs/tasks.md, "Bitext"): refused before any request
        refuse_seen(model.bridge.config, task, bridge=str(args.bridge))
    results = lm_eval.simple_evaluate(model=model, tasks=tasks, task_manager=manager, limit=args.limit,
                                      num_fewshot=args.num_fewshot, log_samples=True, random_seed=args.seed,
                                      numpy_random_seed=args.seed, torch_random_seed=args.seed,
                                      fewshot_random_seed=args.seed)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = results.pop("samples", {})
    results["layerbridge"] = {"bridge": str(args.bridge), "add_eos": not args.no_eos,
                              "mixed_precision": resolve(args.mixed_precision), "truncated": model.truncation_report(),
                              "generation": model.generation_record()}
    atomic_write_text(out / "results.json", json.dumps(results, indent=2, default=handle_non_serializable) + "\n")
    for task, rows in samples.items():
        atomic_write_text(out / f"samples_{task}.jsonl", "".join(
            json.dumps(row, default=handle_non_serializable, ensure_ascii=False) + "\n" for row in rows))
    table = make_table(results)
    atomic_write_text(out / "results.md", table + "\n")
    print(table)
    warn_truncated(model.truncation_report())
    print(f"results: {out / 'results.json'}")
    return 0


def warn_truncated(report: dict[str, dict]) -> None:
    """One warning line per task whose contexts were longer than the encoder reads."""
    import sys

    for task, r in report.items():
        if r["truncated"]:
            kept = "end" if r["truncation_side"] == "left" else "start"
            print(f"warning: {task}: {r['truncated']} of {r['contexts']} contexts were longer than "
                  f"max_encoder_length={r['max_encoder_length']} encoder tokens and were cut (their {kept} kept; "
                  "--max-encoder-length raises it up to the encoder's positions)", file=sys.stderr)
