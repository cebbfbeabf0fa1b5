"""The checkpointer: owns saving, loading and gathering a run's state, on any number of processes.

Every method is called on every rank. Weights and optimizer state are gathered with torch's
distributed state-dict API (a collective under FSDP, a no-op gather under DDP or one process):
trainable weights only, full (unsharded), offloaded to the CPU. Only the main process writes.
RNG states (CPU, and CUDA when present) of every rank are gathered to the main process and saved
in the checkpoint, and sent back to each rank on resume, so no shared filesystem is assumed:
on resume the main process reads the checkpoint and broadcasts it.

Files, without pickle: weights and optimizer tensors in safetensors, the rest JSON. A checkpoint
is written into a staging folder and renamed over the previous one, so a run killed at any moment
leaves either the old or the new checkpoint, never a mix.

The trained bridge goes through here too: with keep_best, the weights of the best English dev
score so far are kept in `best-dev/` and restored at the end; the final bridge is written into
the run's folder. The recipe itself never saves or loads weights.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from accelerate.utils import broadcast_object_list, gather_object
from safetensors.torch import load_file, save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from layerbridge.bridge.saving import WEIGHTS_NAME, load_trained_weights, save_bridge
from layerbridge.io import fsync_dir, fsync_tree
from layerbridge.processes import main_decides

CHECKPOINT_DIR = "checkpoint"
BEST_DIR = "best-dev"  # with keep_best: the weights of the best dev score so far (removed at the end)
GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)


def rng_state() -> dict[str, torch.Tensor]:
    """This process's RNG: the CPU generator and, when present, the current CUDA device's."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer state dict keyed by parameter name -> (flat tensors, JSON-able rest)."""
    tensors = {f"{name}/{key}": torch.as_tensor(value).detach().contiguous().cpu()
               for name, values in state["state"].items() for key, value in values.items()}
    return tensors, {"param_groups": state["param_groups"]}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[str, dict] = {}
    for flat, value in tensors.items():
        name, key = flat.rsplit("/", 1)
        state.setdefault(name, {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


class Checkpointer:
    def __init__(self, folder: Path, accelerator, model, optimizer, scheduler, frozen_prefixes: tuple[str, ...]):
        self.folder, self.accelerator = Path(folder), accelerator
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.frozen_prefixes = frozen_prefixes  # persistent buffers of the frozen models are not the bridge's
        self.meta: dict = {}  # saved in every checkpoint's trainer_state.json (the recipe's: micro-batch size, data)
        self.resumed: dict = {}  # after `load`: the trainer_state.json of the checkpoint loaded

    @property
    def staging(self) -> Path:
        return self.folder / f".{CHECKPOINT_DIR}.tmp"

    # ----------------------------------------------------------------- gathering (every rank)
    def trainable_weights(self) -> dict[str, torch.Tensor]:
        """The bridge's trained weights and buffers, full and on the CPU, named as in the bridge."""
        state = get_model_state_dict(self.model, options=GATHER)
        return {key.removeprefix("module."): value for key, value in state.items()
                if not key.removeprefix("module.").startswith(self.frozen_prefixes)}

    def optimizer_state(self) -> dict:
        return get_optimizer_state_dict(self.model, self.optimizer, options=GATHER)

    # ----------------------------------------------------------------- saving (every rank)
    def save(self, step: int) -> None:
        """Checkpoint after optimiser step `step`."""
        weights, optimizer = self.trainable_weights(), self.optimizer_state()
        rngs = gather_object([rng_state()])  # rank order
        if self.accelerator.is_main_process:
            tmp = self.staging
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / "bridge.safetensors"))
            opt_tensors, opt_rest = flatten_optimizer(optimizer)
            save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
            for rank, rng in enumerate(rngs):
                save_file(rng, str(tmp / f"rng_{rank}.safetensors"))
            sched = {k: v for k, v in self.scheduler.state_dict().items() if k != "lr_lambdas"}
            state = {"step": step, "processes": len(rngs), **self.meta, "optimizer": opt_rest, "scheduler": sched}
            (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
            self._commit()
        self.accelerator.wait_for_everyone()

    def _commit(self) -> None:
        """Atomically replace the previous checkpoint with the staged one."""
        final, old = self.folder / CHECKPOINT_DIR, self.folder / f".{CHECKPOINT_DIR}.old"
        fsync_tree(self.staging)  # its files on disk before any rename names them
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(self.staging, final)
        fsync_dir(self.folder)  # the renames on disk before the old checkpoint goes
        shutil.rmtree(old, ignore_errors=True)

    def find(self) -> Path | None:
        """The latest complete checkpoint (also after a kill between the two renames)."""
        for name in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.old"):
            path = self.folder / name
            if (path / "trainer_state.json").is_file():
                return path
        return None

    # ----------------------------------------------------------------- loading (every rank)
    def load(self, bridge) -> int | None:
        """Restore the latest checkpoint into the bridge, optimizer, scheduler and RNG of every rank:
        its step, or None without one. The main process reads, the others receive."""
        payload = [None]
        if self.accelerator.is_main_process:
            path = self.find()
            if path is not None:
                state = json.loads((path / "trainer_state.json").read_text())
                rngs = [load_file(str(path / f"rng_{r}.safetensors")) for r in range(state["processes"])]
                payload = [{"state": state, "weights": load_file(str(path / "bridge.safetensors")),
                            "optimizer": unflatten_optimizer(load_file(str(path / "optimizer.safetensors")),
                                                             state["optimizer"]),
                            "rngs": rngs}]
        if self.accelerator.num_processes > 1:
            payload = broadcast_object_list(payload)
        found = payload[0]
        if found is None:
            return None
        load_trained_weights(bridge, found["weights"], f"{self.folder / CHECKPOINT_DIR}/bridge.safetensors")
        set_optimizer_state_dict(self.model, self.optimizer, found["optimizer"],
                                 options=StateDictOptions(full_state_dict=True))
        self.scheduler.load_state_dict({**found["state"]["scheduler"], "lr_lambdas": [None] * len(self.scheduler.lr_lambdas)})
        rank = self.accelerator.process_index
        if rank < len(found["rngs"]):  # each rank the killed run had: its own RNG (another rank: the recipe's)
            set_rng_state(found["rngs"][rank])
        self.resumed = found["state"]
        return found["state"]["step"]

    # ----------------------------------------------------------------- the trained bridge (every rank)
    def save_bridge(self, bridge, folder: Path | None = None) -> None:
        """Write the bridge (its trained weights, gathered on every rank, and its config) into
        `folder`, by default the run's own; the main process writes."""
        weights = self.trainable_weights()  # every rank: a collective under sharding
        if self.accelerator.is_main_process:
            save_bridge(bridge, self.folder if folder is None else folder, state=weights)

    def keep_best(self, bridge) -> None:
        """Keep the bridge's current weights as the best English dev ones so far (over the last kept)."""
        self.save_bridge(bridge, self.folder / BEST_DIR)
        self.accelerator.wait_for_everyone()

    def restore_best(self, bridge) -> None:
        """Load the weights kept by `keep_best` into the bridge on every rank (the main process reads them)."""
        path = self.folder / BEST_DIR / WEIGHTS_NAME
        state = main_decides(load_file(path) if self.accelerator.is_main_process else None)
        load_trained_weights(bridge, state, str(path))

    def remove(self) -> None:
        """After the run finished (the bridge is saved): the checkpoint and the best-dev weights are
        no longer needed."""
        if self.accelerator.is_main_process:
            shutil.rmtree(self.folder / CHECKPOINT_DIR, ignore_errors=True)
            shutil.rmtree(self.folder / BEST_DIR, ignore_errors=True)
