"""The task registry: the built-ins plus register_task() additions, and user task files by path."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from layerbridge.errors import ConfigError

from .base import Task
from .builtin import builtin_tasks
from .user import load_task_file

_REGISTRY: dict[str, Task] = builtin_tasks()


def list_tasks() -> list[str]:
    """Names of the registered tasks (the five built-ins plus any register_task() additions)."""
    return list(_REGISTRY)


def register_task(task: Task, *, replace: bool = False) -> None:
    if task.name in _REGISTRY and not replace:
        raise ConfigError(f"a task named {task.name!r} is already registered")
    _REGISTRY[task.name] = task


def get_task(name_or_path: str | os.PathLike | Task) -> Task:
    """A built-in (or registered) task by name, or a user task from a .yaml/.yml/.json file."""
    if isinstance(name_or_path, Task):
        return name_or_path
    text = str(name_or_path)
    if text in _REGISTRY:
        return copy.deepcopy(_REGISTRY[text])
    path = Path(text).expanduser()
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
        return load_task_file(path)
    raise ConfigError(
        f"unknown task {text!r}: use one of {', '.join(_REGISTRY)} or a path to a .yaml/.json task file"
    )
