"""Entry point of the `layerbridge` command: collects the sub-commands and dispatches.

Every command lives in its own module under `layerbridge.cli` and exposes
`register(subparsers)`, which adds its parser and sets `func` (args -> exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from layerbridge.cli.config_file import CONFIG_COMMANDS, add_config_option, apply_config_file
from layerbridge.errors import LayerbridgeError

# Command modules, in the order `layerbridge --help` lists them.
COMMANDS = ["demo", "train", "evaluate", "compare", "predict", "app", "lm_eval", "push", "inspect", "tasks"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerbridge",
        description="Bridge a multilingual encoder (all layers fused) into an English-centric LLM.",
    )
    from layerbridge.version import __version__

    parser.add_argument("--version", action="version", version=f"layerbridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"layerbridge.cli.{name}_cmd")
        module.register(sub)
        if name in CONFIG_COMMANDS:
            add_config_option(sub.choices[name])
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line's options over those of the file `--config` names (train, compare, evaluate, demo)."""
    parser = build_parser()
    apply_config_file(parser, argv)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every model load: noise here
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_args(argv)
    except LayerbridgeError as err:  # a --config file's problem, before the command runs
        command = next((arg for arg in argv if not arg.startswith("-")), "")
        print(f"layerbridge {command}: error: {err}", file=sys.stderr)
        return 2
    finished = False
    try:
        code = int(args.func(args) or 0)
        finished = True
        return code
    except LayerbridgeError as err:
        print(f"layerbridge {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        if "torch.distributed" in sys.modules:  # a torch-free command (tasks, ...) stays torch-free
            from layerbridge.processes import end_processes

            end_processes(finished=finished)


if __name__ == "__main__":
    sys.exit(main())
