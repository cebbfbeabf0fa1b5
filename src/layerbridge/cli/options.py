"""Command-line options shared by the commands that build a bridge (inspect, train, compare, demo).

The bridge flags are generated from `BridgeConfig`'s field metadata (help text, flag name, choices,
parser): a setting added there gets its flag here, and the command line builds its bridge through
`BridgeConfig.for_task`, as a Python caller does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from layerbridge.bridge import BridgeConfig
from layerbridge.bridge.config import PAPER_BRIDGE, PAPER_FIXED
from layerbridge.errors import ConfigError


def bridge_fields() -> list[dataclasses.Field]:
    """The BridgeConfig settings that have a flag (those with help text; not the ones filled in from the models)."""
    return [f for f in dataclasses.fields(BridgeConfig) if "help" in f.metadata]


def flag_name(f: dataclasses.Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def flag_dest(f: dataclasses.Field) -> str:
    return flag_name(f)[2:].replace("-", "_")


def is_key_values(f: dataclasses.Field) -> bool:
    return f.default_factory is dict


def flag_arguments(f: dataclasses.Field, default: Any) -> dict[str, Any]:
    """add_argument's keywords for a setting: a bool's flag flips its default, a dict's flag is a repeatable
    KEY=VALUE, an "unset" flag defaults to None ("not given"), ints are parsed as ints."""
    meta, text = f.metadata, f.metadata["help"]
    if isinstance(default, bool):
        return {"action": "store_true", "help": text}
    if is_key_values(f):
        return {"action": "append", "default": [], "metavar": "KEY=VALUE", "help": f"{text} (repeatable)"}
    kwargs: dict[str, Any] = {"default": None if meta.get("unset") else default}
    if "(default:" not in text:
        text += f" (default: {default})" if meta.get("unset") else " (default: %(default)s)" if default != "" else ""
    if "choices" in meta:
        kwargs["choices"] = list(meta["choices"])  # a registry: what is registered when the parser is built
    if isinstance(default, int):
        kwargs["type"] = int
    return {**kwargs, "help": text}


def add_bridge_options(parser: argparse.ArgumentParser, *, fusion_default: str | None = BridgeConfig.fusion) -> None:
    """A flag per BridgeConfig setting (no --fusion when `fusion_default` is None: the command chooses the
    fusions itself), and --cache-dir."""
    g = parser.add_argument_group("bridge")
    for f in bridge_fields():
        if f.name == "fusion" and fusion_default is None:
            continue
        default = fusion_default if f.name == "fusion" else f.default
        g.add_argument(flag_name(f), **flag_arguments(f, default))
    g.add_argument("--cache-dir", default=None, help="model cache (default: LAYERBRIDGE_CACHE_DIR or the user cache)")


PAPER_FUSION = PAPER_BRIDGE["fusion"]  # the paper's best fusion (Transformer Softmax)


def add_paper_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--paper", action="store_true",
                        help=f"the paper's configuration instead of our defaults: {what}, the fusions' paper "
                             "settings (uniform / random initialisation), the L layer outputs without normalisation, "
                             "and the paper's hyper-parameters (preset paper: lr 3e-5, 3 epochs, ...); overrides the "
                             "fusion and --preset, while explicit --lr, --epochs... still apply")


def flag_given(args: argparse.Namespace, f: dataclasses.Field) -> bool:
    """Whether the command line set this setting (told only for dict and "unset" flags)."""
    value = getattr(args, flag_dest(f), None)
    return bool(value) if is_key_values(f) else value is not None


def apply_paper_flag(args: argparse.Namespace, *, fusion_dest: str | None) -> None:
    """With --paper: set BridgeConfig.paper()'s settings (its fusion into `fusion_dest`, if the command has
    one) and the paper preset, and refuse settings that contradict it instead of silently mixing the two
    configurations."""
    if not getattr(args, "paper", False):
        return
    fields = {f.name: f for f in bridge_fields()}
    conflicts = [flag_name(fields[name]) for name in PAPER_FIXED if name != "fusion" and flag_given(args, fields[name])]
    if conflicts:
        raise ConfigError(f"--paper fixes the fusion settings; drop {', '.join(conflicts)} or drop --paper")
    for name, value in PAPER_BRIDGE.items():
        if name != "fusion":  # the flags' text: the paper's layers and normalisation
            setattr(args, flag_dest(fields[name]), value if isinstance(value, str) else ",".join(map(str, value)))
    if fusion_dest is not None:
        setattr(args, fusion_dest, PAPER_FUSION)
    args.preset = "paper"


def comma_list(text: str) -> list[str]:
    """An option's comma list ("a, b,c"), blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_option_value(text: str):
    """JSON if it parses (numbers, booleans, lists), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_key_values(items: list[str], flag: str) -> dict:
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        values[key.strip().replace("-", "_")] = parse_option_value(value.strip())
    return values


def setting_from_flag(f: dataclasses.Field, value: Any) -> Any:
    """A setting's value from what its flag's parser stored."""
    flag = flag_name(f)
    if is_key_values(f):
        return parse_key_values(value, flag)
    if isinstance(f.default, bool):
        return (not f.default) if value else f.default
    if "parse" in f.metadata:
        try:
            return f.metadata["parse"](value)
        except ConfigError as err:
            raise ConfigError(f"{flag}: {err}") from None
    return value


def bridge_settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gives: every flag the command has, except "unset" ones not given."""
    settings = {}
    for f in bridge_fields():
        if hasattr(args, flag_dest(f)) and (value := getattr(args, flag_dest(f))) is not None:
            settings[f.name] = setting_from_flag(f, value)
    return settings


def bridge_config_from_args(args: argparse.Namespace, fusion: str | None = None) -> BridgeConfig:
    """The bridge the command line asks for, built as `BridgeConfig.for_task(task, **settings)` (what the
    LLM reads comes from --task unless --llm-input / --instruction say); `fusion` overrides --fusion."""
    settings = bridge_settings_from_args(args)
    if fusion:
        settings["fusion"] = fusion
    return BridgeConfig.for_task(getattr(args, "task", None), **settings)


def add_decoding_options(parser: argparse.ArgumentParser, *, max_new_tokens: int | None = None) -> None:
    """Decoding flags; each one not given is None: the saved bridge's setting (generation_config.json)
    applies, else Decoding's default (`decoding_from_args`). `max_new_tokens`: a default of the command's own."""
    g = parser.add_argument_group("decoding (generation tasks; a flag not given: the bridge's saved settings "
                                  "(generation_config.json), else greedy)")
    g.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="(default: the bridge's, else 128)")
    g.add_argument("--num-beams", type=int, default=None, help="beam search with this many beams (default: greedy)")
    g.add_argument("--sample", action=argparse.BooleanOptionalAction, default=None,
                   help="sample instead of greedy decoding (seeded by --seed); --no-sample: greedy whatever was saved")
    g.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: 1.0)")
    g.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold (default: 1.0)")
    g.add_argument("--repetition-penalty", type=float, default=None, help="> 1 discourages repeated tokens")
    g.add_argument("--no-repeat-ngram-size", type=int, default=None,
                   help="never repeat an n-gram of this size (0: off)")
    g.add_argument("--stop", action="append", default=None, metavar="TEXT",
                   help="stop string (repeatable; default: a newline); the output is cut before it")
    g.add_argument("--stop-before-text", action=argparse.BooleanOptionalAction, default=None,
                   help="let a stop string end an answer before any text (transformers' stop_strings; by default "
                        "a leading newline does not empty an answer); --no-stop-before-text: the default whatever "
                        "was saved")


def decoding_overrides(args: argparse.Namespace) -> dict:
    """The decoding settings the command line gave (Decoding field -> value); the others are absent."""
    # "\\n" typed on a command line is a newline; any other character, non-ASCII included, stays itself
    stops = (tuple(s.encode("latin-1", "backslashreplace").decode("unicode_escape") for s in args.stop)
             if getattr(args, "stop", None) else None)
    before_text = getattr(args, "stop_before_text", None)
    given = {"max_new_tokens": args.max_new_tokens, "num_beams": args.num_beams, "do_sample": args.sample,
             "temperature": args.temperature, "top_p": args.top_p, "stop": stops,
             "repetition_penalty": args.repetition_penalty, "no_repeat_ngram_size": args.no_repeat_ngram_size,
             "stop_after_text": None if before_text is None else not before_text}
    return {k: v for k, v in given.items() if v is not None}


def decoding_record(args: argparse.Namespace, bridge, decoding) -> dict:
    """What a result records about its decoding: the settings used, and where they came from (the
    bridge's generation_config.json, else the defaults; the flags given over them)."""
    return {"decoding": decoding.to_dict(),
            "decoding_source": "generation_config.json" if getattr(bridge, "generation_config", None) else "defaults",
            "decoding_flags": sorted(decoding_overrides(args))}


def decoding_from_args(args: argparse.Namespace, saved=None):
    """The decoding the command asks for: its flags over `saved` (a bridge's generation_config, or
    None: Decoding's defaults); seeded by --seed."""
    from layerbridge.evaluation.generation import Decoding

    base = saved if saved is not None else Decoding()
    seed = getattr(args, "seed", None)
    return base.updated({**decoding_overrides(args), "seed": seed}, "the command line")
