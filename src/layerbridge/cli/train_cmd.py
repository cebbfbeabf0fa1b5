"""`layerbridge train`: train a bridge on a task's English data (paper hyper-parameters by default).

Single process by default; `accelerate launch -m layerbridge.cli.main train ...` (or
`accelerate launch $(which layerbridge) train ...`) runs the same command on several processes/GPUs.
"""

from __future__ import annotations

import argparse

from layerbridge.cli.options import (add_bridge_options, add_decoding_options, add_paper_flag, apply_paper_flag,
                                     bridge_config_from_args, comma_list, decoding_overrides)
from layerbridge.training.config import PRESETS, TrainConfig, apply_preset
from layerbridge.training.objectives import OBJECTIVES

# option -> TrainConfig field, for the optimisation settings a preset may change
OPTIMISATION = {
    "lr": "learning_rate", "epochs": "epochs", "weight_decay": "weight_decay", "warmup_ratio": "warmup_ratio",
    "batch_size": "batch_size", "max_grad_norm": "max_grad_norm", "fusion_lr": "fusion_learning_rate",
}


def add_train_options(parser: argparse.ArgumentParser, *, with_output: bool = True) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--task", default="sib200", help="built-in task name or a task file (default: %(default)s)")
    g.add_argument("--data-dir", default=None, help="local data folder (default: LAYERBRIDGE_DATA_DIR)")
    g.add_argument("--source", default="auto", choices=["auto", "local", "hub"])
    g.add_argument("--train-limit", type=int, default=100_000, help="stratified cap on English training examples")
    g.add_argument("--dev-size", type=int, default=None, help="dev examples held out from English train")
    g.add_argument("--max-target-length", type=int, default=None,
                   help="generation tasks: LLM tokens per training target, longer ones cut (default: the task's)")
    o = parser.add_argument_group("optimisation (paper values unless a preset or flag says otherwise)")
    o.add_argument("--preset", default="paper", choices=list(PRESETS))
    o.add_argument("--lr", type=float, default=None, help="learning rate (paper: 3e-5)")
    o.add_argument("--fusion-lr", type=float, default=None, help="separate learning rate for the fusion (default: --lr)")
    o.add_argument("--epochs", type=float, default=None, help="(paper: 3)")
    o.add_argument("--weight-decay", type=float, default=None, help="(paper: 3e-7)")
    o.add_argument("--warmup-ratio", type=float, default=None, help="(paper: 0.05)")
    o.add_argument("--batch-size", type=int, default=None, help="effective batch over all processes (paper: 8)")
    o.add_argument("--max-grad-norm", type=float, default=None, help="(paper: 1.0)")
    o.add_argument("--micro-batch-size", type=int, default=None, help="examples per forward pass per process")
    o.add_argument("--max-steps", type=int, default=None, help="cap on optimiser steps")
    o.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "auto"],
                   help="bf16 autocast; auto = bf16 where the hardware has it natively (default: %(default)s)")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--label-smoothing", type=float, default=0.0,
                   help="smoothed targets in the training loss, e.g. 0.1 (not in the paper; default: off; the logged "
                        "loss is then the smoothed one)")
    add_objective_options(parser)
    sp = parser.add_argument_group("speed (on by default; switches for ablations)")
    sp.add_argument("--no-encoder-cache", dest="encoder_cache", action="store_false",
                    help="recompute the frozen encoder every step instead of caching its states")
    sp.add_argument("--encoder-cache-gb", type=float, default=0.5,
                    help="most the encoder cache may hold in RAM; a cache estimated larger is kept in a file instead, "
                         "under --encoder-cache-dir or the system's temporary folder (default: %(default)s)")
    sp.add_argument("--encoder-cache-dir", default=None, metavar="DIR",
                    help="keep the encoder cache in a file under DIR instead of RAM whatever its size, read back per "
                         "batch (large data, less memory)")
    sp.add_argument("--no-bucketing", dest="bucket_by_length", action="store_false",
                    help="plain random batches instead of length-bucketed ones")
    sp.add_argument("--gradient-checkpointing", action="store_true",
                    help="recompute the frozen LLM's layers during the backward instead of keeping their activations: "
                         "much less memory for a third more LLM compute (not with --injection cross_attention)")
    r = parser.add_argument_group("run")
    if with_output:
        r.add_argument("--output-dir", "-o", required=True, help="where the bridge, log and checkpoints go")
    add_dev_options(parser)
    r.add_argument("--checkpoint-every", type=int, default=50)
    r.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    r.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    r.add_argument("--init-from", default=None, metavar="BRIDGE",
                   help="two-stage training: start from this saved bridge's trained weights (a folder or Hub id), "
                        "with a fresh optimizer and schedule; its design and base models must be this run's")
    r.add_argument("--report-to", action="append", default=None, metavar="TRACKER",
                   help="experiment trackers: tensorboard, wandb, mlflow or none (repeatable, or a comma list; "
                        "default: none); logs go under <output>/tracking/, each tracker is an optional extra "
                        "(pip install 'layerbridge[tensorboard]')")
    r.add_argument("--run-name", default=None, help="the tracker run's name (default: the output folder's name; "
                                                    "compare names each tracker run by its compared run)")


def add_dev_options(parser: argparse.ArgumentParser) -> None:
    """Dev scoring while training (English, or the dev rows read in other languages), and what it decides:
    the weights kept, when to stop."""
    d = parser.add_argument_group("dev score while training")
    d.add_argument("--eval-every", type=int, default=0, help="dev accuracy (chrF++ for generation) every N steps (0: at the end)")
    d.add_argument("--keep-best", action="store_true",
                   help="with --eval-every: save the weights of the best dev score, not the last")
    d.add_argument("--early-stopping-patience", type=int, default=0, metavar="N",
                   help="with --keep-best: stop training after N dev scores in a row no better than the best "
                        "(0: train all the steps; default: %(default)s)")
    d.add_argument("--dev-limit", type=int, default=200,
                   help="dev examples scored at each evaluation, per language with --dev-languages (default: %(default)s)")
    d.add_argument("--dev-languages", action="append", default=None, metavar="LANGS",
                   help="score the dev rows read in these languages (repeatable, or a comma list) instead of English, "
                        "by their mean chrF++, which --keep-best and early stopping then go by: a generation task whose "
                        "training text has the same rows in other languages (flores_en); pick languages you do not "
                        "evaluate on")


def add_objective_options(parser: argparse.ArgumentParser) -> None:
    """The English-only objectives beyond restating (training/objectives.py), measured against it."""
    ob = parser.add_argument_group("English-only objective (docs/generation.md)")
    ob.add_argument("--objective", default="restate", choices=list(OBJECTIVES),
                    help="restate: the LLM writes the text the encoder reads; continuation (a generation task whose "
                         "target restates its input, e.g. flores_en): the encoder reads the first 30-70%% of each "
                         "English training text's words, the LLM writes the rest (default: %(default)s)")
    ob.add_argument("--encoder-token-dropout", type=float, default=0.0, metavar="P",
                    help="in training only, leave each encoder token out of what the LLM reads with probability P "
                         "(at least one kept per text; any task; default: off)")

def train_config_from_args(args: argparse.Namespace, *, output_dir: str, fusion: str | None = None) -> TrainConfig:
    explicit = {field: getattr(args, opt) for opt, field in OPTIMISATION.items() if getattr(args, opt) is not None}
    settings = apply_preset(args.preset, explicit)
    return TrainConfig(
        task=args.task, output_dir=output_dir, bridge=bridge_config_from_args(args, fusion=fusion),
        data_dir=args.data_dir, source=args.source, train_limit=args.train_limit, dev_size=args.dev_size,
        max_target_length=args.max_target_length,
        micro_batch_size=args.micro_batch_size, max_steps=args.max_steps, mixed_precision=args.mixed_precision,
        seed=args.seed, label_smoothing=args.label_smoothing, keep_best=args.keep_best,
        early_stopping_patience=args.early_stopping_patience,
        objective=args.objective, encoder_token_dropout=args.encoder_token_dropout,
        eval_every=args.eval_every, dev_limit=args.dev_limit,
        dev_languages=[lang for given in args.dev_languages or [] for lang in comma_list(given)],
        encoder_cache=args.encoder_cache,
        encoder_cache_gb=args.encoder_cache_gb, encoder_cache_dir=args.encoder_cache_dir,
        bucket_by_length=args.bucket_by_length, gradient_checkpointing=args.gradient_checkpointing,
        checkpoint_every=args.checkpoint_every, report_to=args.report_to or [],
        run_name=args.run_name, init_from=args.init_from,
        # decoding flags given where a bridge trains (train, compare, demo): saved with it over the task's own
        generation=decoding_overrides(args) if hasattr(args, "max_new_tokens") else {},
        cache_dir=args.cache_dir, **settings,
    )


def register(sub) -> None:
    parser = sub.add_parser("train", help="train a bridge on English task data", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bridge_options(parser)
    add_train_options(parser)
    add_decoding_options(parser)  # saved with the bridge (generation_config.json), over the task's own settings
    add_paper_flag(parser, "the token_softmax fusion")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerbridge.processes import processes
    from layerbridge.training.recipe import train

    apply_paper_flag(args, fusion_dest="fusion")
    cfg = train_config_from_args(args, output_dir=args.output_dir)
    out = train(cfg, overwrite=args.overwrite, resume=args.resume)
    if processes().is_main_process:
        print(f"bridge saved to {out}")
    return 0
