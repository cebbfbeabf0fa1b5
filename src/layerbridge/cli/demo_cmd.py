"""`layerbridge demo`: the main job on the built-in defaults, in minutes on a laptop CPU.

Trains a global_softmax bridge (multilingual-e5-small -> SmolLM2-135M-Instruct) on English SIB-200
with the `small-data` preset, then measures topic accuracy in ten languages, low-resource ones
included, next to English. Global softmax is our default: on SIB-200 and Sinhala news it beat the
last layer and the paper's token-wise gate on English dev (docs/fusion-study.md); `--paper` trains
the paper's configuration instead. Data: LAYERBRIDGE_DATA_DIR / --data-dir when set, else the hub.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from layerbridge.bridge import BridgeConfig
from layerbridge.cli.compare_cmd import add_comparison_options, build_compare_config, print_table
from layerbridge.cli.options import PAPER_FUSION, add_bridge_options, add_paper_flag, apply_paper_flag
from layerbridge.cli.train_cmd import add_train_options

DEMO_LANGUAGES = ["eng_Latn", "fra_Latn", "zho_Hans", "hin_Deva", "arb_Arab",
                  "swh_Latn", "tam_Taml", "sin_Sinh", "amh_Ethi", "yor_Latn"]
# Test sentences per language (of 204): all of them where bf16 is native (fast), else a stratified
# 100, which keeps a full-precision run on 2 CPU cores under 10 minutes too.
FP32_EVAL_LIMIT = 100


def register(sub) -> None:
    parser = sub.add_parser("demo", help="train on English SIB-200, measure 10 languages (minutes, CPU)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bridge_options(parser, fusion_default=None)
    add_train_options(parser, with_output=False)
    add_comparison_options(parser, fusions=BridgeConfig.fusion, languages_help=f"default: {','.join(DEMO_LANGUAGES)}",
                           references="probe")
    add_paper_flag(parser, f"the {PAPER_FUSION} fusion")
    parser.add_argument("--output-dir", "-o", default="runs/demo")
    parser.set_defaults(func=run, preset="small-data", eval_limit=-1, checkpoint_every=20, mixed_precision="auto")
    parser.set_defaults(task="sib200")


def run(args: argparse.Namespace) -> int:
    from layerbridge.compare import compare

    from layerbridge.precision import resolve

    started = time.perf_counter()
    apply_paper_flag(args, fusion_dest="fusions")
    languages = args.languages.split(",") if args.languages else DEMO_LANGUAGES
    if args.eval_limit == -1:  # not given: decide by the precision this machine runs in
        args.eval_limit = None if resolve(args.mixed_precision) == "bf16" else FP32_EVAL_LIMIT
    cfg = build_compare_config(args, languages=languages, title="layerbridge demo: SIB-200 topic classification")
    print(f"demo: training on English {cfg.train.task} with preset '{cfg.train.preset}' "
          f"(lr {cfg.train.learning_rate}, {cfg.train.epochs:g} epochs, batch {cfg.train.batch_size}, "
          f"{resolve(cfg.train.mixed_precision)} precision); evaluating {len(languages)} languages on "
          + ("all test sentences" if cfg.eval_limit is None else
             f"{cfg.eval_limit} test sentences each (a stratified subsample, to fit in minutes on a CPU)"))
    report = compare(cfg, overwrite=args.overwrite)
    document = json.loads((Path(args.output_dir) / "compare.json").read_text())
    print_table(document)
    print(f"trained on {document['train_examples']} English sentences ({document['dev_examples']} held out as dev); "
          f"evaluated on {document['eval_limit'] or 'all'} test sentences per language")
    print(f"wall time {time.perf_counter() - started:.0f} s; report: {report} (also report.md)")
    return 0
