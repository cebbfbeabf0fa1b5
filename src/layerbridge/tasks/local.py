"""The local data folder (layerbridge's documented offline format, docs/tasks.md).

    <data_dir>/<task>/<lang>/<split>.jsonl      (or .csv / .tsv)

One row per example with the task's columns (e.g. xnli: premise, hypothesis, label).
User-defined tasks name their files explicitly instead (see user.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from layerbridge.errors import DataError

from .base import Task
from .readers import FORMATS

ENV_DATA_DIR = "LAYERBRIDGE_DATA_DIR"
SPLITS = ("train", "validation", "test")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data folder: the argument, else $LAYERBRIDGE_DATA_DIR, else None (no local data)."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(ENV_DATA_DIR) or None
    if chosen is None:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        origin = "--data-dir" if data_dir not in (None, "") else f"${ENV_DATA_DIR}"
        raise DataError(f"data folder {path} (from {origin}) does not exist or is not a folder")
    return path


def split_file(task: Task, lang: str, split: str, data_dir: Path | None) -> Path | None:
    """The file holding (lang, split) of a task, or None if there is none."""
    if task.files is not None:
        return task.files.get(lang, {}).get(split)
    if data_dir is None:
        return None
    return folder_split_file(data_dir / task.folder / lang, split)


def folder_split_file(folder: Path, split: str) -> Path | None:
    """`folder`/<split>.jsonl, .csv or .tsv (exactly one of them), or None."""
    found = [folder / f"{split}{ext}" for ext in (".jsonl", ".csv", ".tsv") if (folder / f"{split}{ext}").is_file()]
    if len(found) > 1:
        raise DataError(f"{folder}: more than one file for split {split!r}: {[p.name for p in found]}")
    return found[0] if found else None


def expected_file(task: Task, lang: str, split: str, data_dir: Path | None) -> str:
    if task.files is not None:
        return f"{task.task_file}: files.{lang}.{split}"
    base = data_dir if data_dir is not None else Path("<data_dir>")
    return str(base / task.folder / lang / f"{split}.jsonl")


def has_local_task(task: Task, data_dir: Path | None) -> bool:
    """Whether the data folder holds this task at all (its <task> folder exists)."""
    if task.files is not None:
        return True
    return data_dir is not None and (data_dir / task.folder).is_dir()


def local_splits(task: Task, lang: str, data_dir: Path | None) -> dict[str, Path]:
    """Every split present locally for one language (known splits first, then any others)."""
    if task.files is not None:
        return dict(task.files.get(lang, {}))
    if data_dir is None:
        return {}
    folder = data_dir / task.folder / lang
    if not folder.is_dir():
        return {}
    names = sorted({p.stem for p in folder.iterdir() if p.suffix.lower() in FORMATS and p.is_file()})
    names.sort(key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))
    out = {}
    for name in names:
        path = split_file(task, lang, name, data_dir)
        if path is not None:
            out[name] = path
    return out
