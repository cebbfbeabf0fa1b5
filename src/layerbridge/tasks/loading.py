"""Reading a task's examples of one language and split, from the local data folder or the
Hugging Face Hub, and which evaluation languages a run covers.

Sources: source="auto" reads a split from the local data folder (--data-dir / $LAYERBRIDGE_DATA_DIR)
when the folder holds it, else from the hub; "local" and "hub" force one source.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from layerbridge.errors import ConfigError, DataError

from .base import Example, Task
from .convert import rows_to_examples
from .corpora import pair_targets
from .hub import DOCS_HINT, hub_name, hub_records
from .local import expected_file, has_local_task, resolve_data_dir, split_file
from .readers import iter_records
from .registry import get_task
from .sampling import same_rows, stratified_sample

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # warnings.warn prints; logging only where the app configures it

PAPER_TRAIN_LIMIT = 100_000  # the paper's cap on English training examples per task
SOURCES = ("auto", "local", "hub")


def check_source(source: str) -> None:
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {SOURCES}, not {source!r}")


def load_file(task: Task, path: Path, lang: str, split: str, on_empty: str | None) -> list[Example]:
    log.info("%s %s/%s: reading %s", task.name, lang, split, path)
    return rows_to_examples(task, iter_records(path), where=str(path), lang=lang, split=split, on_empty=on_empty)


def load_hub(task: Task, lang: str, split: str, on_empty: str | None, prefix: str = "") -> list[Example]:
    log.info("%s %s/%s: reading %s", task.name, lang, split, hub_name(task, lang, split) if task.hub else "hub")
    try:
        records = hub_records(task, lang, split)
    except DataError as err:
        raise DataError(prefix + str(err)) from None
    return rows_to_examples(
        task, records, where=hub_name(task, lang, split), lang=lang, split=split, on_empty=on_empty, unit="row"
    )


def load_examples(
    task: Task | str,
    lang: str,
    split: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    source: str = "auto",
    limit: int | None = None,
    seed: int = 0,
    on_empty: str | None = None,
) -> list[Example]:
    """Examples of one language and split (default: the task's eval split).

    limit: a per-class stratified, seed-deterministic subset (with the same seed, parallel data
    such as XNLI or SIB-200 gives the same rows in every language; a generation task with a reference
    language draws on that language's rows and keeps the same ids in every language).
    on_empty: "skip" (default for every task; the count is printed) or "error" for empty texts.
    """
    task = get_task(task)
    split = split or task.eval_split
    check_source(source)
    task.check_language(lang)
    if limit is not None and limit <= 0:
        raise ConfigError(f"limit must be > 0, not {limit}")

    if task.files is not None:  # a user task: its own files
        if source == "hub":
            raise ConfigError(f"task {task.name!r} comes from {task.task_file} and has no hub source")
        path = split_file(task, lang, split, None)
        if path is None:
            raise DataError(f"{task.task_file}: no file for language {lang!r} split {split!r} (files.{lang}.{split})")
        examples = load_file(task, path, lang, split, on_empty)
    else:
        ddir = resolve_data_dir(data_dir) if source != "hub" else None
        path = split_file(task, lang, split, ddir)
        if source == "local" or (source == "auto" and path is not None):
            if ddir is None:
                raise DataError(f"source 'local' needs a data folder: {DOCS_HINT}")
            if path is None:
                raise DataError(f"{expected_file(task, lang, split, ddir)}: not found in the data folder")
            examples = load_file(task, path, lang, split, on_empty)
        else:
            prefix = ""
            if source == "auto" and ddir is not None:
                prefix = f"{expected_file(task, lang, split, ddir)} is not in the data folder, and "
            examples = load_hub(task, lang, split, on_empty, prefix)
    paired = task.paired_language(lang)
    if paired is not None:  # the targets: the rows of the same ids in the reference language
        references = load_examples(task, paired, split, data_dir=data_dir, source=source, on_empty=on_empty)
        examples = pair_targets(task, examples, references, where=f"{task.name} {lang}/{split}")
        if limit is not None:  # the reference language's draw, by id: the same sentences in every language
            chosen = stratified_sample(references, limit, seed=seed, salt="eval")
            return same_rows(examples, chosen, where=f"{task.name} {lang}/{split}")
    return stratified_sample(examples, limit, seed=seed, salt="eval")


def available_languages(
    task: Task | str, *, data_dir: str | os.PathLike | None = None, source: str = "auto"
) -> list[str]:
    """The evaluation languages a run should cover by default, in the task's order.

    local (or auto with the task present in the data folder): the languages whose eval split is
    there; hub (or auto without local data for the task): all of the task's languages.
    """
    task = get_task(task)
    check_source(source)
    if task.files is not None:
        return list(task.languages)
    if source == "hub":
        return list(task.languages)
    ddir = resolve_data_dir(data_dir)
    if source == "auto" and not has_local_task(task, ddir):
        return list(task.languages)
    if ddir is None:
        raise DataError(f"source 'local' needs a data folder: {DOCS_HINT}")
    found = [lang for lang in task.languages if split_file(task, lang, task.eval_split, ddir) is not None]
    if not found:
        raise DataError(
            f"{ddir / task.folder}: no language has a {task.eval_split} file "
            f"(expected e.g. {expected_file(task, task.languages[0], task.eval_split, ddir)})"
        )
    return found
