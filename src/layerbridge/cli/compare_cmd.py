"""`layerbridge compare`: train and evaluate several fusions with the same seed, data and budget,
and write one report (report.md / report.html with plots) into the output folder.

The runs come from `--fusions`, a comma list of run names: a fusion (`last`), or a variant with
options in brackets, `token_softmax[init=last;gate_ffn_size=1024]`. A variant may also change how
the encoder reaches the LLM: `global_softmax[injection=cross_attention]`,
`global_softmax[projector=perceiver;projector.latents=32]`, `...[projector_init=default]`,
`...[center_languages=true]` (language centring, transductive: a language's mean is fitted on the
texts evaluated; it acts at test time only, so a centred run listed after its uncentred twin, or the
other way round, takes the twin's training instead of training again: compare.twins). Each run name
becomes one complete BridgeConfig (the command line's bridge plus the variant's settings) in
CompareConfig.runs, and trains into <output>/<slug(name)>."""

from __future__ import annotations

import argparse
import dataclasses
import math

from rich.table import Table

from layerbridge.bridge import BridgeConfig
from layerbridge.cli.options import (add_bridge_options, add_decoding_options, add_paper_flag, apply_paper_flag,
                                     comma_list, decoding_from_args, parse_key_values, parse_option_value)
from layerbridge.cli.output import console as make_console
from layerbridge.cli.train_cmd import add_train_options, train_config_from_args
from layerbridge.decoding import tuned_decoding
from layerbridge.errors import ConfigError
from layerbridge.evaluation.predict import MODES
from layerbridge.evaluation.probe import PROBE_MAX_EXAMPLES
from layerbridge.fusion import FUSIONS

DEFAULT_REFERENCES = {"classification": "llm_alone,probe", "generation": "llm_alone,llm_zero_shot"}


def register(sub) -> None:
    parser = sub.add_parser("compare", help="train + evaluate several fusions and write one report", description=__doc__)
    add_bridge_options(parser, fusion_default=None)
    add_train_options(parser)
    add_comparison_options(parser, fusions="last,global_softmax,token_softmax",
                           languages_help="comma list (default: every language available)")
    add_paper_flag(parser, "every fusion in --fusions")
    parser.set_defaults(func=run)


def add_comparison_options(parser: argparse.ArgumentParser, *, fusions: str, languages_help: str,
                           references: dict[str, str] = DEFAULT_REFERENCES) -> None:
    g = parser.add_argument_group("comparison")
    g.add_argument("--fusions", default=fusions,
                   help="comma list of runs: a fusion, or a variant with options such as "
                        "'token_softmax[init=last;gate_dropout=0]'; '' with --references for the reference rows "
                        "alone (default: %(default)s)")
    g.add_argument("--languages", default=None, help=languages_help)
    g.add_argument("--mode", default="rank", choices=list(MODES),
                   help="classification tasks: rank (summed log-probability), rank_mean (per token), generate")
    g.add_argument("--lr-grid", default=None,
                   help="comma list of learning rates: each run trains at every one and keeps the best on English dev "
                        "(fair budgets for every fusion; the report says which was chosen)")
    g.add_argument("--eval-limit", type=int, default=None, help="test examples per language (stratified)")
    g.add_argument("--eval-batch-size", type=int, default=16)
    g.add_argument("--references", default=None,
                   help="reference rows, comma list: llm_alone (the LLM reading the raw text, trained the same way), "
                        "llm_zero_shot (generation: the LLM reading the raw text after the instruction, untrained), "
                        "probe (classification: linear probe on the frozen encoder), probe_centred (the probe with "
                        "language centring, transductive); '' for none (default: "
                        + "; ".join(f"{kind}: {refs}" for kind, refs in references.items()) + ")")
    g.add_argument("--probe-max-examples", type=int, default=PROBE_MAX_EXAMPLES,
                   help="the probe reference is fitted on at most this many training examples (a stratified "
                        "subsample above it, which the report says): its memory is N x layers x hidden size "
                        "floats (default: %(default)s)")
    parser.set_defaults(default_references=references)
    add_decoding_options(parser)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from layerbridge.compare import compare
    from layerbridge.processes import processes
    from layerbridge.tasks import available_languages, get_task

    apply_paper_flag(args, fusion_dest=None)
    task = get_task(args.task)
    languages = (comma_list(args.languages) if args.languages
                 else available_languages(task, data_dir=args.data_dir, source=args.source))
    report = compare(build_compare_config(args, languages=languages), overwrite=args.overwrite)
    if not processes().is_main_process:  # the main process reports
        return 0
    print_table(json.loads((Path(args.output_dir) / "compare.json").read_text()))
    print(f"report: {report}")
    return 0


def build_compare_config(args, *, languages: list[str], title: str = ""):
    from layerbridge.compare import CompareConfig
    from layerbridge.compare.references import check_references
    from layerbridge.tasks import get_task

    task = get_task(args.task)
    given = args.references if args.references is not None else args.default_references[task.kind]
    references = comma_list(given)
    check_references(references, task)
    variants = parse_fusions(args.fusions, references_only=bool(references))
    fusion_options, args.fusion_option = args.fusion_option, []  # applied per run
    first = next(iter(variants.values()), (REFERENCES_ONLY_BASE, {}))[0]
    base = train_config_from_args(args, output_dir=args.output_dir, fusion=first)
    return CompareConfig(train=base, runs=variant_bridges(variants, fusion_options, base.bridge),
                         languages=languages, mode=args.mode, eval_limit=args.eval_limit,
                         eval_batch_size=args.eval_batch_size, title=title, references=references,
                         decoding=decoding_from_args(args, saved=tuned_decoding(task, base.generation)) if task.is_generation else None,
                         lr_grid=parse_lr_grid(args.lr_grid), probe_max_examples=args.probe_max_examples)


# The --fusions mini-language (see the module's docstring)
REFERENCES_ONLY_BASE = "global_softmax"  # the base bridge of a comparison without runs (the references set their own)
BRIDGE_KEYS = ("injection", "projector")  # designs a variant may change (with their options) beside its fusion's
PLAIN_KEYS = ("projector_init", "center_languages")  # further bridge settings a variant may set


def plain_value(key: str, value, spec: str):
    """A variant's plain bridge setting, typed as BridgeConfig holds it (center_languages: true/false)."""
    if key == "center_languages":
        if not isinstance(value, bool):
            raise ConfigError(f"--fusions {spec}: center_languages must be true or false, got {value!r}")
        return value
    return str(value)


def parse_fusions(text: str, *, references_only: bool = False) -> dict[str, tuple[str, dict]]:
    """`last,token_softmax,token_softmax[init=last;gate_ffn_size=1024]` -> {run name: (fusion, options)}.
    A variant may also change how the encoder reaches the LLM: `global_softmax[injection=cross_attention]`,
    `global_softmax[projector=perceiver;projector.latents=32]` (see `bridge_overrides`). Empty only with
    `references_only` (the reference rows alone: e.g. a probe added to an earlier comparison's seed)."""
    variants: dict[str, tuple[str, dict]] = {}
    for spec in comma_list(text):
        fusion, _, rest = spec.partition("[")
        if fusion not in FUSIONS:
            raise ConfigError(f"--fusions: unknown fusion {fusion!r} in {spec!r}; choose from {', '.join(FUSIONS)}")
        if rest and not rest.endswith("]"):
            raise ConfigError(f"--fusions: {spec!r} should look like {fusion}[key=value;key=value]")
        options = parse_key_values([kv for kv in rest[:-1].split(";") if kv.strip()], f"--fusions {spec}") if rest else {}
        if spec in variants:
            raise ConfigError(f"--fusions lists {spec!r} twice")
        variants[spec] = (fusion, options)
    if not variants and not references_only:
        raise ConfigError("--fusions: give at least one fusion (or --references for the reference rows alone)")
    return variants


def bridge_overrides(options: dict, spec: str) -> dict:
    """Pop a variant's bridge settings out of its options: `injection=cross_attention`,
    `projector=perceiver`, their options as `injection.KEY=VALUE` / `projector.KEY=VALUE`,
    `projector_init=default` and `center_languages=true`."""
    overrides: dict = {}
    for key in list(options):
        head, dot, option = key.partition(".")
        if key in PLAIN_KEYS:
            overrides[key] = plain_value(key, options.pop(key), spec)
        elif head in BRIDGE_KEYS and not dot:
            overrides[head] = str(options.pop(key))
        elif head in BRIDGE_KEYS:
            overrides.setdefault(f"{head}_options", {})[option] = options.pop(key)
    for head in BRIDGE_KEYS:
        if f"{head}_options" in overrides and head not in overrides:
            raise ConfigError(f"--fusions {spec}: {head} options given without {head}=NAME")
        if head in overrides:  # another design: the command line's options for the base one do not apply
            overrides.setdefault(f"{head}_options", {})
    return overrides


def split_fusion_options(items: list[str], variants: dict[str, tuple[str, dict]]) -> dict[str, dict]:
    """Options per run: a variant's inline options, then `--fusion-option [NAME.]KEY=VALUE`, where NAME
    is a fusion type or a variant (no NAME: every run whose fusion has that option)."""
    per_run = {name: dict(options) for name, (_, options) in variants.items()}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--fusion-option expects [FUSION.]KEY=VALUE, got {item!r}")
        target, _, option = key.rpartition(".")
        option = option.replace("-", "_")
        runs = [n for n, (fusion, _) in variants.items() if not target or target in (n, fusion)]
        if target and not runs:
            raise ConfigError(f"--fusion-option {item!r}: {target!r} is not among --fusions")
        applied = [n for n in runs if option in {f.name for f in dataclasses.fields(FUSIONS[variants[n][0]][0])}]
        if not applied:
            raise ConfigError(f"--fusion-option {item!r}: no fusion among {runs} has an option {option!r}")
        for name in applied:
            per_run[name][option] = parse_option_value(value)
    return per_run


def variant_bridges(variants: dict[str, tuple[str, dict]], fusion_options: list[str],
                    base: BridgeConfig) -> dict[str, BridgeConfig]:
    """Run name -> its complete bridge: `base` with the variant's fusion, its fusion options (inline,
    then `--fusion-option`) and its other bridge settings. Every run's settings are checked here,
    before any of them trains."""
    overrides = {name: bridge_overrides(options, name) for name, (_, options) in variants.items()}
    per_run = split_fusion_options(fusion_options, variants)
    runs = {}
    for name, (fusion, _) in variants.items():
        try:
            runs[name] = dataclasses.replace(base, fusion=fusion, fusion_options=per_run[name], **overrides[name])
        except ConfigError as err:
            raise ConfigError(f"--fusions {name}: {err}") from None
    return runs


def parse_lr_grid(text: str | None) -> list[float]:
    if not text:
        return []
    try:
        grid = [float(v) for v in comma_list(text)]
    except ValueError as err:
        raise ConfigError(f"--lr-grid {text!r}: expected comma-separated numbers ({err})") from None
    if not grid or not all(math.isfinite(v) and v > 0 for v in grid) or len(set(grid)) != len(grid):
        raise ConfigError(f"--lr-grid {text!r}: expected distinct positive learning rates")
    return grid


def print_table(document: dict) -> None:
    from layerbridge.reporting.page import comparison_rows
    from layerbridge.reporting.tables import METRIC_NAMES, mean, show

    metric = document.get("metric", "accuracy")
    pct = lambda v: show(v, metric)  # noqa: E731
    columns, accuracy = comparison_rows(document)
    table = Table(title=f"{document['task']}: {METRIC_NAMES.get(metric, metric)}, mode={document['mode']}")
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
