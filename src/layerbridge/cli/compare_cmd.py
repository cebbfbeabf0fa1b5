"""`layerbridge compare`: train and evaluate several fusions with the same seed, data and budget,
and write one report (report.md / report.html with plots) into the output folder."""

from __future__ import annotations

import argparse

from layerbridge.cli.output import console as make_console
from rich.table import Table

from layerbridge.cli.options import add_bridge_options, parse_option_value
from layerbridge.cli.train_cmd import add_train_options, train_config_from_args
from layerbridge.errors import ConfigError
from layerbridge.fusion import FUSIONS


def add_comparison_options(parser: argparse.ArgumentParser, *, fusions: str, languages_help: str,
                           references: str = "llm_alone,probe") -> None:
    g = parser.add_argument_group("comparison")
    g.add_argument("--fusions", default=fusions, help="comma list (default: %(default)s)")
    g.add_argument("--languages", default=None, help=languages_help)
    g.add_argument("--mode", default="rank", choices=["rank", "generate"])
    g.add_argument("--eval-limit", type=int, default=None, help="test examples per language (stratified)")
    g.add_argument("--eval-batch-size", type=int, default=16)
    g.add_argument("--references", default=references,
                   help="reference rows, comma list: llm_alone (the LLM reading the raw text, trained the same way), "
                        "probe (linear probe on the frozen encoder); '' for none (default: %(default)s)")


def split_fusion_options(items: list[str], fusions: list[str]) -> dict[str, dict]:
    """`fusion.key=value` sets one fusion's option; `key=value` every listed fusion that has it."""
    import dataclasses

    per_fusion: dict[str, dict] = {f: {} for f in fusions}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--fusion-option expects [FUSION.]KEY=VALUE, got {item!r}")
        target, _, name = key.rpartition(".")
        name = name.replace("-", "_")
        targets = [target] if target else fusions
        applied = False
        for fusion in targets:
            if fusion not in per_fusion:
                raise ConfigError(f"--fusion-option {item!r}: {fusion!r} is not among --fusions")
            if name in {f.name for f in dataclasses.fields(FUSIONS[fusion][0])}:
                per_fusion[fusion][name] = parse_option_value(value)
                applied = True
        if not applied:
            raise ConfigError(f"--fusion-option {item!r}: no fusion among {targets} has an option {name!r}")
    return per_fusion


def register(sub) -> None:
    parser = sub.add_parser("compare", help="train + evaluate several fusions and write one report", description=__doc__)
    add_bridge_options(parser, fusion_default=None)
    add_train_options(parser)
    add_comparison_options(parser, fusions="last,global_softmax,token_softmax",
                           languages_help="comma list (default: every language available)")
    parser.set_defaults(func=run)


def parse_fusions(text: str) -> list[str]:
    fusions = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in fusions if f not in FUSIONS]
    if bad or not fusions:
        raise ConfigError(f"--fusions: unknown {bad}; choose from {', '.join(FUSIONS)}")
    return fusions


def build_compare_config(args, *, languages: list[str], title: str = ""):
    from layerbridge.compare import CompareConfig

    fusions = parse_fusions(args.fusions)
    references = [r.strip() for r in args.references.split(",") if r.strip()]
    if set(references) - {"probe", "llm_alone"}:
        raise ConfigError(f"--references: unknown {sorted(set(references) - {'probe', 'llm_alone'})}; "
                          "known: llm_alone, probe")
    per_fusion = split_fusion_options(args.fusion_option, fusions)
    args.fusion_option = []  # applied per fusion above
    base = train_config_from_args(args, output_dir=args.output_dir, fusion=fusions[0])
    return CompareConfig(train=base, fusions=fusions, fusion_options=per_fusion, languages=languages, mode=args.mode,
                         eval_limit=args.eval_limit, eval_batch_size=args.eval_batch_size, title=title,
                         references=references)


def print_table(document: dict) -> None:
    from layerbridge.reporting.page import comparison_rows
    from layerbridge.reporting.tables import mean, pct

    columns, accuracy = comparison_rows(document)
    table = Table(title=f"{document['task']}: accuracy (%), mode={document['mode']}")
    table.add_column("language")
    for column in columns:
        table.add_column(column if column in document["runs"] else f"[i]{column}[/i]", justify="right")
    low = set(document["low_resource"])
    for lang in document["languages"]:
        table.add_row(lang + (" (low)" if lang in low else ""), *[pct(accuracy[c][lang]) for c in columns])
    table.add_row("average", *[pct(mean(accuracy[c].values())) for c in columns], style="bold")
    if low:
        table.add_row("low-resource avg", *[pct(mean(accuracy[c][l] for l in low)) for c in columns], style="bold")
    make_console().print(table)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from layerbridge.compare import compare
    from layerbridge.tasks import available_languages, get_task

    task = get_task(args.task)
    languages = ([lang.strip() for lang in args.languages.split(",") if lang.strip()] if args.languages
                 else available_languages(task, data_dir=args.data_dir, source=args.source))
    report = compare(build_compare_config(args, languages=languages), overwrite=args.overwrite)
    print_table(json.loads((Path(args.output_dir) / "compare.json").read_text()))
    print(f"report: {report}")
    return 0
