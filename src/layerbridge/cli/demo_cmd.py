"""`layerbridge demo`: the main job on the built-in defaults, in minutes on a laptop CPU.

Trains a global_softmax bridge (multilingual-e5-small -> SmolLM2-135M-Instruct) on English SIB-200
with the `small-data` preset, then measures topic accuracy in ten languages, low-resource ones
included, next to English. Global softmax is our default: on SIB-200 and Sinhala news it beat the
last layer and the paper's token-wise gate on English dev (docs/fusion-study.md); `--paper` trains
the paper's configuration instead. Data: LAYERBRIDGE_DATA_DIR / --data-dir when set, else the hub.

`layerbridge demo --task flores_en`: the generative demo. The bridge learns, on English text only,
to let the LLM restate what the encoder read; it then reads FLORES-200 sentences in ten languages and
writes English (chrF++ per language, two example outputs each, the untrained LLM reading the raw
text beside it). Its settings are GENERATION_DEMO (docs/generation.md says why).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from layerbridge.bridge import BridgeConfig
from layerbridge.cli.compare_cmd import add_comparison_options, build_compare_config, print_table
from layerbridge.cli.options import PAPER_FUSION, add_bridge_options, add_paper_flag, apply_paper_flag, comma_list
from layerbridge.cli.train_cmd import add_train_options
from layerbridge.processes import processes
from layerbridge.reporting.tables import dev_read_in

DEMO_LANGUAGES = ["eng_Latn", "fra_Latn", "zho_Hans", "hin_Deva", "arb_Arab",
                  "swh_Latn", "tam_Taml", "sin_Sinh", "amh_Ethi", "yor_Latn"]
# Test sentences per language (of 204): all of them where bf16 is native (fast), else a stratified
# 100, which keeps a full-precision run on 2 CPU cores under 10 minutes too.
FP32_EVAL_LIMIT = 100
# The generative demo (flores_en): the settings of studies/generation/flores_en.sh, chosen in
# studies/generation/variants.sh (docs/generation.md): the upper half of the layers in a fixed uniform
# mix, the lexical projector start, no repeated 3-grams when decoding. Applied where the command line
# does not say otherwise. key: (demo value, the option's own default, which means "not given").
GENERATION_DEMO = {"lr": (1e-3, None), "fusion_lr": (1e-6, None), "max_steps": (200, None),
                   "layers": ("upper_half", None), "projector_init": ("lexical", "default"),
                   "no_repeat_ngram_size": (3, None), "dev_limit": (32, 200)}
GENERATION_EVAL_LIMIT = {"bf16": 16, "no": 8}  # test sentences per language (of 204)
EXAMPLES_SHOWN = 2


def register(sub) -> None:
    parser = sub.add_parser("demo", help="train on English SIB-200, measure 10 languages (minutes, CPU)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bridge_options(parser, fusion_default=None)
    add_train_options(parser, with_output=False)
    add_comparison_options(parser, fusions=BridgeConfig.fusion, languages_help=f"default: {','.join(DEMO_LANGUAGES)}",
                           references={"classification": "probe", "generation": "llm_zero_shot"})
    add_paper_flag(parser, f"the {PAPER_FUSION} fusion")
    parser.add_argument("--output-dir", "-o", default="runs/demo")
    parser.set_defaults(func=run, preset="small-data", eval_limit=-1, checkpoint_every=20, mixed_precision="auto")
    parser.set_defaults(task="sib200")


def run(args: argparse.Namespace) -> int:
    from layerbridge.compare import compare

    from layerbridge.precision import label, resolve
    from layerbridge.tasks import get_task

    started = time.perf_counter()
    apply_paper_flag(args, fusion_dest="fusions")
    languages = comma_list(args.languages) if args.languages else DEMO_LANGUAGES
    generation = get_task(args.task).is_generation
    if generation:
        apply_generation_demo(args)
    if args.eval_limit == -1:  # not given: decide by the precision this machine runs in
        precision = resolve(args.mixed_precision)
        args.eval_limit = (GENERATION_EVAL_LIMIT[precision] if generation
                           else None if precision == "bf16" else FP32_EVAL_LIMIT)
    title = ("layerbridge demo: read ten languages, write English (flores_en)" if generation
             else "layerbridge demo: SIB-200 topic classification")
    cfg = build_compare_config(args, languages=languages, title=title)
    print(f"demo: training on English {cfg.train.task} with preset '{cfg.train.preset}' "
          f"(lr {cfg.train.learning_rate}, {cfg.train.epochs:g} epochs, batch {cfg.train.batch_size}, "
          f"{label(cfg.train.mixed_precision)} precision); evaluating {len(languages)} languages on "
          + ("all test sentences" if cfg.eval_limit is None else
             f"{cfg.eval_limit} test sentences each (a stratified subsample, to fit in minutes on a CPU)"))
    report = compare(cfg, overwrite=args.overwrite)
    if not processes().is_main_process:
        return 0
    document = json.loads((Path(args.output_dir) / "compare.json").read_text())
    print_table(document)
    if generation:
        print_examples(Path(args.output_dir), document)
    print(f"trained on {document['train_examples']} English sentences ({document['dev_examples']} held out as dev"
          f"{dev_read_in(document)}); "
          f"evaluated on {document['eval_limit'] or 'all'} test sentences per language")
    print(f"wall time {time.perf_counter() - started:.0f} s; report: {report} (also report.md)")
    return 0


def apply_generation_demo(args: argparse.Namespace) -> None:
    """GENERATION_DEMO's settings, except where the command line gave one."""
    for key, (value, default) in GENERATION_DEMO.items():
        if getattr(args, key) == default:
            setattr(args, key, value)


def print_examples(out: Path, document: dict) -> None:
    """Two outputs per language of the first bridge, under the reference they should match."""
    from layerbridge.io import slug

    first = next(iter(document["runs"]))
    folder = out / slug(first) / "eval-generation" / "predictions"
    print(f"\nexample outputs of {first} (reference, then output):")
    for lang in document["languages"]:
        path = folder / f"{lang}.jsonl"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines()[:EXAMPLES_SHOWN]:
            p = json.loads(line)
            print(f"  {lang:>9}  ref: {p['reference']}\n  {'':>9}  out: {p['output']}")
