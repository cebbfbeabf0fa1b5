"""A converted model's weights stored in the dtype a run holds them in, so loading maps them.

transformers memory-maps safetensors weights already in the dtype asked for: they enter the
resident set only as they are touched, and most of multilingual-e5-small's 250k-row embedding
never is. Asked for another dtype, it materialises a cast copy of every weight, and the cast
leaves buffers behind. The built-in and GGUF conversions are float32, so a bf16 run gets a copy
of the cached folder cast once to bf16 (`<name>.bfloat16/` beside it, built atomically with the
same marker discipline as the conversion) and loads that: the same numbers as casting at load
time, 0.74 instead of 1.17 GiB resident after loading the default models, ~0.17 GiB less after a
first step (docs/benchmarks.md). Its fingerprint is the float32 folder's, so bridges trained either
way bind to the same base weights.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from layerbridge.errors import ModelSourceError
from layerbridge.sources.cache import MARKER_NAME, ensure_folder, read_marker
from layerbridge.sources.resolve import ResolvedModel


def held_in(r: ResolvedModel, dtype: torch.dtype) -> ResolvedModel:
    """`r`, or its cached copy with float weights in `dtype` (converted folders only)."""
    from layerbridge.bridge.base_models import folder_fingerprint

    folder = Path(r.path)
    marker = read_marker(folder) if r.kind in ("builtin", "gguf") else None
    if dtype == torch.float32 or marker is None or not any(folder.glob("*.safetensors")):
        return r
    label = str(dtype).removeprefix("torch.")
    copy = folder.with_name(f"{folder.name}.{label}")
    source = {"held_dtype": label, "from": folder_fingerprint(folder),
              "files": {name: info["sha256"] for name, info in sorted(marker["files"].items())}}
    try:
        ensure_folder(copy, lambda tmp: cast_copy(folder, tmp, dtype), source, what=f"{r.name} in {label}",
                      announce=f"layerbridge: storing {r.name}'s weights in {label} once, so runs in {label} map them")
    except (OSError, ModelSourceError) as err:  # e.g. a read-only or full cache: cast at load time instead
        warnings.warn(f"could not store {r.name}'s weights in {label} under {copy} ({err}); casting them at load "
                      "time instead (the same numbers, more resident memory)", stacklevel=2)
        return r
    return replace(r, path=str(copy))


def cast_copy(folder: Path, out: Path, dtype: torch.dtype) -> None:
    """Copy `folder` into `out` with every floating-point tensor of its safetensors files cast."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER_NAME):
        target = out / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".safetensors":
            shutil.copy2(path, target)
            continue
        with safe_open(str(path), framework="pt") as f:
            tensors = {}
            for key in f.keys():
                t = f.get_tensor(key)
                tensors[key] = t.to(dtype) if t.is_floating_point() else t
            save_file(tensors, str(target), metadata=f.metadata() or {"format": "pt"})
