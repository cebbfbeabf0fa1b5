"""`layerbridge inspect`: build a bridge and show what it is made of, before spending compute on it."""

from __future__ import annotations

import argparse

from rich.table import Table

from layerbridge.bridge import LayerBridge
from layerbridge.bridge.base_models import model_dims
from layerbridge.cli.output import console as make_console
from layerbridge.cli.options import add_bridge_options, bridge_config_from_args


def register(sub) -> None:
    parser = sub.add_parser("inspect", help="build a bridge and print its models and parameter counts",
                            description=__doc__)
    add_bridge_options(parser)
    parser.set_defaults(func=run)


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def run(args: argparse.Namespace) -> int:
    console = make_console()
    config = bridge_config_from_args(args)
    bridge = LayerBridge.from_config(config, cache_dir=args.cache_dir)

    models = Table(title="Models")
    for col in ("role", "name", "class", "layers", "hidden", "vocab", "parameters"):
        models.add_column(col, justify="right" if col in ("layers", "hidden", "vocab", "parameters") else "left")
    for role, name, model in (("encoder", config.encoder, bridge.encoder), ("llm", config.llm, bridge.llm)):
        layers, hidden = model_dims(model)
        models.add_row(role, name, type(model).__name__, str(layers), str(hidden),
                       f"{model.config.vocab_size:,}", f"{_params(model):,}")
    console.print(models)

    parts = Table(title=f"Bridge: fusion={config.fusion}, projector={config.projector}")
    parts.add_column("part")
    parts.add_column("parameters", justify="right")
    counts = bridge.parameter_counts()
    for part, n in counts.items():
        if part == "encoder (unfrozen)" and n == 0:
            continue
        parts.add_row(part, f"{n:,}", style="bold" if part in ("trainable", "frozen") else None)
    console.print(parts)
    console.print(f"fused encoder hidden states: {bridge.layer_indices} (0 = embedding output); "
                  f"normalize={config.normalize}; fusion options: {bridge.fusion.config.to_dict()}")
    console.print(f"projector options: {bridge.projector.config.to_dict()}{_pooled_note(bridge.projector)}")
    return 0


def _pooled_note(projector) -> str:
    """What the LLM reads of the sentence embedding (projector/pooled.py), if anything."""
    pooled = getattr(projector, "pooled", None)
    if pooled is None:
        return ""
    where = "only" if projector.config.name == "pooled" else "before the per-token ones"
    return (f"; the LLM reads {pooled.tokens} pooled sentence token(s) {where} (mean of the fused states, "
            f"{_params(pooled):,} of the projector's parameters)")
