"""Training checkpoints without pickle: weights and optimizer state in safetensors, the rest JSON.

A checkpoint is written into a temp folder and renamed over the previous one, so a run killed
at any moment leaves either the old or the new checkpoint, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CHECKPOINT_DIR = "checkpoint"


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into flat tensors and a JSON-able rest."""
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{index}.{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
    return tensors, {"param_groups": state["param_groups"]}


def optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def staging_dir(folder: Path) -> Path:
    return folder / f".{CHECKPOINT_DIR}.tmp"


def write_checkpoint(folder: Path, *, weights: dict[str, torch.Tensor], optimizer, scheduler, step: int,
                     extra: dict) -> None:
    """Rank 0: write weights, optimizer and trainer state into the staging folder."""
    tmp = staging_dir(folder)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp / "bridge.safetensors"))
    opt_tensors, opt_rest = optimizer_tensors(optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    state = {"step": step, "optimizer": opt_rest, "scheduler": sched, **extra}
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))


def write_rng(folder: Path, rank: int) -> None:
    """Every rank: its torch RNG state (dropout), so a resumed run draws the same numbers."""
    save_file({"torch": torch.get_rng_state()}, str(staging_dir(folder) / f"rng_{rank}.safetensors"))


def commit_checkpoint(folder: Path) -> None:
    """Rank 0, after every rank wrote its RNG: atomically replace the previous checkpoint."""
    final, old = folder / CHECKPOINT_DIR, folder / f".{CHECKPOINT_DIR}.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staging_dir(folder), final)
    shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(folder: Path) -> Path | None:
    """The latest complete checkpoint (also after a kill between the two renames)."""
    for name in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.old"):
        path = folder / name
        if (path / "trainer_state.json").is_file():
            return path
    return None


def load_checkpoint(path: Path, rank: int):
    state = json.loads((path / "trainer_state.json").read_text())
    weights = load_file(str(path / "bridge.safetensors"))
    optimizer = optimizer_state(load_file(str(path / "optimizer.safetensors")), state["optimizer"])
    rng_file = path / f"rng_{rank}.safetensors"
    rng = load_file(str(rng_file))["torch"] if rng_file.is_file() else None
    return state, weights, optimizer, rng
