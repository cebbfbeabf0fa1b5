"""`layerbridge evaluate`: measure a saved bridge language by language (JSON + CSV + Markdown).

Classification tasks: accuracy, macro-F1, invalid answers, confusion matrices. Generation tasks:
chrF++, BLEU and exact match per language, with every output beside its reference in
predictions/<lang>.jsonl (decoding: the settings the bridge was saved with, generation_config.json,
else greedy; a flag overrides one: --num-beams, --sample, --no-repeat-ngram-size, ...; results.json
records the settings used)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layerbridge.evaluation.predict import MODES
from layerbridge.cli.options import add_decoding_options, comma_list, decoding_from_args, decoding_record
from layerbridge.cli.output import console as make_console

from layerbridge.bridge import LayerBridge
from layerbridge.bridge.lineage import refuse_seen
from layerbridge.errors import ConfigError


def register(sub) -> None:
    parser = sub.add_parser("evaluate", help="per-language accuracy / chrF++ of a saved bridge", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bridge", help="folder of a saved bridge (the output of `train`)")
    parser.add_argument("--task", default=None, help="task name or file (default: the one it was trained on)")
    parser.add_argument("--languages", default=None, help="comma list (default: every language available)")
    parser.add_argument("--mode", default="generate", choices=list(MODES),
                        help="classification: generate = the paper's exact match; rank = best label log-likelihood; "
                             "rank_mean = best mean log-probability per label token (length-normalised)")
    parser.add_argument("--limit", type=int, default=None, help="examples per language (stratified)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "auto"], help="bf16 autocast")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--source", default="auto", choices=["auto", "local", "hub"])
    parser.add_argument("--output-dir", "-o", default=None, help="default: <bridge>/eval-<task>-<mode>")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    add_decoding_options(parser)
    parser.set_defaults(func=run)


def default_task(bridge_dir: Path) -> str | None:
    path = bridge_dir / "train_config.json"
    return json.loads(path.read_text())["task"] if path.is_file() else None


def run(args: argparse.Namespace) -> int:
    from layerbridge.evaluation.recipe import evaluate
    from layerbridge.reporting.tables import pct, write_evaluation
    from layerbridge.tasks import available_languages, get_task

    bridge_dir = Path(args.bridge)
    task_name = args.task or default_task(bridge_dir)
    if task_name is None:
        raise ConfigError(f"{bridge_dir} does not say which task it was trained on; give --task")
    task = get_task(task_name)
    if args.languages:
        languages = comma_list(args.languages)
        unknown = [lang for lang in languages if lang not in task.languages]
        if unknown:
            raise ConfigError(f"--languages: {unknown} not in task {task.name} (it has {', '.join(task.languages)})")
    else:
        languages = available_languages(task, data_dir=args.data_dir, source=args.source)
    from layerbridge.machine import inference_device
    from layerbridge.precision import frozen_dtype

    bridge = LayerBridge.from_pretrained(bridge_dir, cache_dir=args.cache_dir, dtype=frozen_dtype(args.mixed_precision))
    refuse_seen(bridge.config, task.name, bridge=str(bridge_dir))  # its training saw the task's rows (docs/tasks.md)
    bridge.to(inference_device())
    decoding = decoding_from_args(args, bridge.generation_config) if task.is_generation else None
    results = evaluate(bridge, task, languages, mode=args.mode, limit=args.limit, data_dir=args.data_dir,
                       source=args.source, batch_size=args.batch_size, seed=args.seed,
                       mixed_precision=args.mixed_precision, decoding=decoding)
    mode = task.evaluation_mode(args.mode)
    out = Path(args.output_dir or bridge_dir / f"eval-{task.name}-{mode}")
    meta = {"bridge": str(bridge_dir), "mode": mode, "mixed_precision": args.mixed_precision, "limit": args.limit, "seed": args.seed,
            "bridge_config": bridge.config.to_dict(), **(decoding_record(args, bridge, decoding) if decoding else {})}
    summary = write_evaluation(out, results, task=task, meta=meta)
    console = make_console()
    from layerbridge.evaluation.recipe import truncation_warning

    warning = truncation_warning(sum(r["truncated"] for r in results.values()),
                                 sum(r["n"] for r in results.values()), bridge.config)
    if warning:
        print(warning + " (per language: results.json)", file=sys.stderr)
    if task.is_generation:
        from layerbridge.reporting.tables import show

        for lang, r in results.items():
            console.print(f"{lang:>10}  " + "  ".join(f"{m} {show(r[m], m):>5}" for m in task.metrics)
                          + f"  (n={r['n']})")
        head = task.metrics[0]
        low = summary[f"low_resource_{head}"]
        interval = lambda key: (f" (95% interval {summary[key][0]:.1f}-{summary[key][1]:.1f})" if key in summary else "")  # noqa: E731
        console.print(f"average {head} {show(summary[f'average_{head}'], head)}{interval(f'average_{head}_ci95')}"
                      + (f", low-resource {show(low, head)}{interval(f'low_resource_{head}_ci95')}" if low is not None else "")
                      + f"; results in {out}/results.md")
        return 0
    for lang, r in results.items():
        console.print(f"{lang:>10}  acc {pct(r['accuracy']):>5}  macro-F1 {pct(r['macro_f1']):>5}  "
                      f"invalid {r['invalid']:>4}  (n={r['n']})")
    console.print(f"average accuracy {pct(summary['average_accuracy'])}; results in {out}/results.md")
    return 0
