"""For code every process runs (`accelerate launch`) where one process decides or writes.

Nothing here assumes a shared filesystem: what the main process reads or decides is sent to
the others. With one process every helper is a plain pass-through.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object


def has_accelerator_device() -> bool:
    """A GPU (or other accelerator) is present. Without one, processes started by
    `accelerate launch --multi_gpu` / torchrun join a gloo process group on the CPU."""
    accel = getattr(torch, "accelerator", None)
    return bool(accel.is_available()) if accel is not None else torch.cuda.is_available()


def processes() -> PartialState:
    """The process group's state, set up as the training recipe's Accelerator sets it up (the
    first call decides it for the whole program)."""
    return PartialState(cpu=not has_accelerator_device())


def end_processes(*, finished: bool) -> None:
    """Leave the process group before the interpreter exits: gloo's worker threads still holding
    tensors at interpreter shutdown abort the process (SIGABRT), and NCCL asks for the same. A
    finished process first waits for the others (one may still be writing what only it writes; a
    launcher like torchrun stops a waiting process when another fails). A failed one leaves at once
    without ending the group, which could wait on a collective still in flight."""
    dist = sys.modules.get("torch.distributed")  # a command that never imported torch has no group
    if not finished or dist is None or not dist.is_available() or not dist.is_initialized():
        return
    processes().wait_for_everyone()
    dist.destroy_process_group()


def main_decides(value: Any) -> Any:
    """The main process's `value`, on every process (others pass anything, e.g. None)."""
    state = processes()
    if state.num_processes == 1:
        return value
    return broadcast_object_list([value if state.is_main_process else None])[0]


def my_share(items: list) -> list:
    """This process's share of `items` (strided)."""
    state = processes()
    return items[state.process_index :: state.num_processes]


def gather_dicts(local: dict) -> dict:
    """Every process's `local` dict merged (keys are disjoint shares), on every process."""
    if processes().num_processes == 1:
        return local
    merged = {}
    for part in gather_object([local]):
        merged.update(part)
    return merged
