"""Command-line options shared by the commands that build a bridge (inspect, train, compare)."""

from __future__ import annotations

import argparse
import json

from layerbridge.bridge import BridgeConfig
from layerbridge.errors import ConfigError
from layerbridge.fusion import FUSIONS


def add_bridge_options(parser: argparse.ArgumentParser, *, fusion_default: str | None = BridgeConfig.fusion) -> None:
    defaults = BridgeConfig()
    g = parser.add_argument_group("bridge")
    g.add_argument("--encoder", default=defaults.encoder,
                   help="built-in name, local folder, .gguf file or hub id (default: %(default)s)")
    g.add_argument("--llm", default=defaults.llm,
                   help="built-in name, local folder, .gguf file or hub id (default: %(default)s)")
    if fusion_default is not None:
        g.add_argument("--fusion", default=fusion_default, choices=list(FUSIONS), help="(default: %(default)s)")
    g.add_argument("--fusion-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a fusion setting, e.g. gate_ffn_size=1024 or init=last (repeatable)")
    g.add_argument("--projector", default=defaults.projector, choices=["linear", "mlp"], help="(default: %(default)s)")
    # --layers / --normalize default to None ("not given"): --paper must tell a user's choice from the default
    g.add_argument("--layers", default=None,
                   help="encoder hidden states fused: all | all+embeddings | upper_half | comma list (0 = embeddings) "
                        f"(default: {defaults.layers})")
    g.add_argument("--normalize", default=None, choices=["none", "layernorm", "scale"],
                   help=f"per-layer normalisation before mixing (default: {defaults.normalize})")
    g.add_argument("--max-encoder-length", type=int, default=defaults.max_encoder_length)
    g.add_argument("--encoder-prefix", default=defaults.encoder_prefix, help="text prepended to every encoder input")
    g.add_argument("--unfreeze-encoder", action="store_true", help="train the encoder too")
    g.add_argument("--cache-dir", default=None, help="model cache (default: LAYERBRIDGE_CACHE_DIR or the user cache)")


PAPER_FUSION = "token_softmax"  # the paper's best fusion (Transformer Softmax)


def add_paper_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--paper", action="store_true",
                        help=f"the paper's configuration instead of our defaults: {what}, the fusions' paper "
                             "settings (uniform / random initialisation), the L layer outputs without normalisation, "
                             "and the paper's hyper-parameters (preset paper: lr 3e-5, 3 epochs, ...); overrides the "
                             "fusion and --preset, while explicit --lr, --epochs... still apply")


def apply_paper_flag(args: argparse.Namespace, *, fusion_dest: str | None) -> None:
    """With --paper: set the paper's fusion (into `fusion_dest`, if the command has one) and preset, and
    refuse settings that contradict it instead of silently mixing the two configurations."""
    if not getattr(args, "paper", False):
        return
    conflicts = [flag for flag, given in (("--layers", args.layers is not None), ("--normalize", args.normalize is not None),
                                          ("--fusion-option", bool(args.fusion_option))) if given]
    if conflicts:
        raise ConfigError(f"--paper fixes the fusion settings; drop {', '.join(conflicts)} or drop --paper")
    args.layers, args.normalize = "all", "none"  # the paper: the L layer outputs, mixed as they are
    if fusion_dest is not None:
        setattr(args, fusion_dest, PAPER_FUSION)
    args.preset = "paper"


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


def parse_layers(text: str):
    if text in ("all", "all+embeddings", "upper_half"):
        return text
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise ConfigError(f"--layers: expected all | all+embeddings | upper_half | e.g. 6,9,12; got {text!r}") from err


def bridge_config_from_args(args: argparse.Namespace, fusion: str | None = None) -> BridgeConfig:
    return BridgeConfig(
        encoder=args.encoder,
        llm=args.llm,
        fusion=fusion or args.fusion,
        fusion_options=parse_key_values(args.fusion_option, "--fusion-option"),
        projector=args.projector,
        layers=BridgeConfig.layers if args.layers is None else parse_layers(args.layers),
        normalize=args.normalize or BridgeConfig.normalize,
        max_encoder_length=args.max_encoder_length,
        encoder_prefix=args.encoder_prefix,
        freeze_encoder=not args.unfreeze_encoder,
    )
