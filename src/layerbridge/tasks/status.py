"""What the local data folder holds for a task (for `layerbridge tasks`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import Task
from .local import local_splits, split_file
from .readers import count_rows
from .registry import get_task
from .training_data import train_task


@dataclass
class LocalStatus:
    """What the local data folder holds for a task (for `layerbridge tasks`)."""

    eval_found: list[str]  # languages whose eval split is present
    n_languages: int
    train: str  # "found", "fallback: <split>", "missing"

    @property
    def summary(self) -> str:
        n = len(self.eval_found)
        if n == 0:
            return "missing"
        if n == self.n_languages:
            return "found"
        return f"{n} of {self.n_languages} languages"


def local_status(task: Task | str, data_dir: Path | None) -> LocalStatus:
    task = get_task(task)
    found = [lang for lang in task.languages if split_file(task, lang, task.eval_split, data_dir) is not None]
    tt = train_task(task)
    train = "missing"
    if tt.files is not None or data_dir is not None:
        if split_file(tt, tt.train_lang, tt.train_split, data_dir) is not None:
            train = "found"
        else:
            for fb in tt.train_fallback:
                if split_file(tt, tt.train_lang, fb, data_dir) is not None:
                    train = f"{tt.train_lang} {fb} (fallback)"
                    break
    return LocalStatus(eval_found=found, n_languages=len(task.languages), train=train)


def local_counts(task: Task | str, data_dir: Path | None) -> dict[str, dict[str, int]]:
    """lang -> split -> number of rows, for every split present locally (train language included)."""
    task = get_task(task)
    langs = list(task.languages)
    if task.train_lang not in langs:
        langs.insert(0, task.train_lang)
    out: dict[str, dict[str, int]] = {}
    for lang in langs:
        splits = local_splits(task, lang, data_dir)
        if splits:
            out[lang] = {split: count_rows(path) for split, path in splits.items()}
    return out
