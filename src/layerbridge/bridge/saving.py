"""A saved bridge's files, like a PEFT adapter's: only the trained weights (safetensors) and a JSON
config naming the encoder, the LLM and every bridge setting; the frozen models are not copied.
Writing them, reading the weights back, and checking they fit a bridge before loading them."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from layerbridge.version import __version__
from layerbridge.decoding import save_generation_config
from layerbridge.errors import ConfigError
from layerbridge.io import atomic_path

WEIGHTS_NAME = "bridge.safetensors"
RENAMED = {"source_mean": "centring.source_mean"}  # keys of bridges saved by earlier versions


def save_bridge(bridge, folder: str | Path, state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the bridge's trained weights (`state`: already gathered ones, e.g. by the training
    checkpointer; default: the bridge's own), its config and the decoding settings it was tuned with
    (generation_config.json, when it has them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = bridge.trainable_state_dict() if state is None else state
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "layerbridge": __version__})
    bridge.config.save(folder)
    save_generation_config(getattr(bridge, "generation_config", None), folder)
    return folder


def load_trained_weights(bridge, state: dict[str, torch.Tensor], source: str) -> None:
    """Load trained weights (the bridge's own, no frozen model) into `bridge`, after checking they are
    exactly the ones it has: a prefix drift (`module.`, `_orig_mod.`) would otherwise load nothing and
    leave e.g. zero gates."""
    state = {RENAMED.get(k, k): v for k, v in state.items()}
    expected = bridge.trainable_state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    problems = []
    if missing:
        problems.append(f"missing weights {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if extra:
        problems.append(f"unexpected weights {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    if wrong:
        problems.append(f"mis-shaped weights {wrong[:5]}")
    if problems:
        raise ConfigError(f"{source} does not fit this bridge: " + "; ".join(problems))
    with torch.no_grad():
        bridge.load_state_dict(state, strict=False)


def read_weights(folder: Path) -> tuple[dict[str, torch.Tensor], Path]:
    """(trained weights, their file) of the bridge saved in `folder`, with a clear error when the
    file is missing or unreadable. safetensors only: nothing is unpickled."""
    path = Path(folder) / WEIGHTS_NAME
    if not path.is_file():
        raise ConfigError(f"{path}: not found; the bridge in {folder} has no weights")
    try:
        return load_file(str(path)), path
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a readable safetensors file ({err})") from err
