"""Tasks and data: the built-in benchmarks, user task files, and loading examples from a local
data folder or the Hugging Face Hub (docs/tasks.md).

    task = get_task("xnli")                       # or get_task("path/to/my_task.yaml")
    train, dev = load_train_dev(task, train_limit=100_000, seed=0)
    test = load_examples(task, "sw", "test", limit=500)

Sources: source="auto" reads a split from the local data folder (--data-dir / $LAYERBRIDGE_DATA_DIR)
when the folder holds it, else from the hub; "local" and "hub" force one source.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from layerbridge.errors import ConfigError, DataError

from .base import GENERATION_METRICS, METRICS, Example, HubSpec, Task, TextCorpus
from .corpora import corpus_file, gather_training_text, pair_targets
from .builtin import builtin_tasks
from .convert import SkippedRowsWarning, rows_to_examples
from .hub import DOCS_HINT, hub_records, hub_status
from .local import ENV_DATA_DIR, expected_file, has_local_task, local_splits, resolve_data_dir, split_file
from .readers import count_rows, iter_records
from .sampling import DEV_FRACTION, DEV_MAX, dev_count, split_train_dev, stratified_sample
from .user import load_task_file

__all__ = [
    "Example",
    "Task",
    "HubSpec",
    "METRICS",
    "GENERATION_METRICS",
    "TextCorpus",
    "ENV_DATA_DIR",
    "TrainFallbackWarning",
    "SkippedRowsWarning",
    "get_task",
    "list_tasks",
    "register_task",
    "load_examples",
    "load_train_dev",
    "resolve_data_dir",
    "hub_status",
    "local_status",
    "available_languages",
    "stratified_sample",
    "split_train_dev",
    "dev_count",
    "DEV_MAX",
    "DEV_FRACTION",
    "PAPER_TRAIN_LIMIT",
]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # warnings.warn prints; logging only where the app configures it

PAPER_TRAIN_LIMIT = 100_000  # the paper's cap on English training examples per task
SOURCES = ("auto", "local", "hub")

_REGISTRY: dict[str, Task] = builtin_tasks()


class TrainFallbackWarning(UserWarning):
    """The English training split was missing locally; a documented substitute split is used."""


# ---------------------------------------------------------------------------- registry
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


# ---------------------------------------------------------------------------- loading
def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {SOURCES}, not {source!r}")


def _load_file(task: Task, path: Path, lang: str, split: str, on_empty: str | None) -> list[Example]:
    log.info("%s %s/%s: reading %s", task.name, lang, split, path)
    return rows_to_examples(task, iter_records(path), where=str(path), lang=lang, split=split, on_empty=on_empty)


def _load_hub(task: Task, lang: str, split: str, on_empty: str | None, prefix: str = "") -> list[Example]:
    from .hub import hub_name

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
    such as XNLI or SIB-200 gives the same rows in every language).
    on_empty: "skip" (default for every task; the count is printed) or "error" for empty texts.
    """
    task = get_task(task)
    split = split or task.eval_split
    _check_source(source)
    task.check_language(lang)
    if limit is not None and limit <= 0:
        raise ConfigError(f"limit must be > 0, not {limit}")

    if task.files is not None:  # a user task: its own files
        if source == "hub":
            raise ConfigError(f"task {task.name!r} comes from {task.task_file} and has no hub source")
        path = split_file(task, lang, split, None)
        if path is None:
            raise DataError(f"{task.task_file}: no file for language {lang!r} split {split!r} (files.{lang}.{split})")
        examples = _load_file(task, path, lang, split, on_empty)
    else:
        ddir = resolve_data_dir(data_dir) if source != "hub" else None
        path = split_file(task, lang, split, ddir)
        if source == "local" or (source == "auto" and path is not None):
            if ddir is None:
                raise DataError(f"source 'local' needs a data folder: {DOCS_HINT}")
            if path is None:
                raise DataError(f"{expected_file(task, lang, split, ddir)}: not found in the data folder")
            examples = _load_file(task, path, lang, split, on_empty)
        else:
            prefix = ""
            if source == "auto" and ddir is not None:
                prefix = f"{expected_file(task, lang, split, ddir)} is not in the data folder, and "
            examples = _load_hub(task, lang, split, on_empty, prefix)
    if task.is_generation and task.reference_lang not in (None, lang):  # targets: the same ids in reference_lang
        references = load_examples(task, task.reference_lang, split, data_dir=data_dir, source=source, on_empty=on_empty)
        examples = pair_targets(task, examples, references, where=f"{task.name} {lang}/{split}")
    return stratified_sample(examples, limit, seed=seed, salt="eval")


def _train_task(task: Task) -> Task:
    if task.train_from is None:
        return task
    base = get_task(task.train_from)
    if base.prompt != task.prompt or base.label_words != task.label_words:
        raise ConfigError(f"task {task.name!r} trains on {base.name!r} but their prompts or label words differ")
    return base


def load_train_dev(
    task: Task | str,
    *,
    data_dir: str | os.PathLike | None = None,
    source: str = "auto",
    train_limit: int | None = None,
    dev_size: int | float | str | None = "auto",
    seed: int = 0,
    on_empty: str | None = None,
) -> tuple[list[Example], list[Example]]:
    """English training examples and a held-out dev set carved from them (disjoint, stratified).

    dev_size: "auto" or None = min(1000, 10% of the English training rows); an int count (0: no dev
    set); a fraction in (0, 1).
    The dev set is carved first, then train_limit caps the rest (per-class stratified).
    source="auto": a task present in the data folder trains from it (with its documented fallback
    split if the train split is missing); otherwise from the hub.
    """
    task = get_task(task)
    _check_source(source)
    tt = _train_task(task)
    lang, split = tt.train_lang, tt.train_split
    if tt.train_corpora:
        examples = _load_corpora(tt, data_dir, source, on_empty)
    elif tt.files is not None:
        if source == "hub":
            raise ConfigError(f"task {tt.name!r} comes from {tt.task_file} and has no hub source")
        examples = _load_file(tt, tt.files[lang][split], lang, split, on_empty)
    else:
        ddir = resolve_data_dir(data_dir) if source != "hub" else None
        if source == "local" or (source == "auto" and has_local_task(tt, ddir)):
            if ddir is None:
                raise DataError(f"source 'local' needs a data folder: {DOCS_HINT}")
            examples = _load_local_train(tt, ddir, on_empty)
        else:
            examples = _load_hub(tt, lang, split, on_empty)
    if not examples:
        raise DataError(f"task {tt.name!r}: the English training data is empty")
    return split_train_dev(examples, dev_size=dev_size, train_limit=train_limit, seed=seed)


def _load_corpora(task: Task, data_dir, source: str, on_empty: str | None) -> list[Example]:
    """English text from every training corpus (local file if present, else the hub), minus the
    evaluation references of the reference language."""
    import dataclasses

    ddir = resolve_data_dir(data_dir) if source != "hub" else None

    def read(corpus: TextCorpus):
        path = corpus_file(corpus, ddir)
        if source == "local" and path is None:
            raise DataError(f"{ddir / corpus.folder / corpus.lang / (corpus.split + '.jsonl') if ddir else '<data_dir>'}: "
                            f"not found in the data folder (a training corpus of {task.name})")
        if path is not None:
            log.info("%s training text: reading %s", task.name, path)
            return str(path), iter_records(path)
        if corpus.hub is None:
            raise DataError(f"{task.name}: training corpus {corpus.folder}/{corpus.lang}/{corpus.split} is not in the "
                            f"data folder and has no hub source; {DOCS_HINT}")
        shim = dataclasses.replace(task, hub=corpus.hub, train_corpora=[])
        from .hub import hub_name

        return hub_name(shim, corpus.lang, corpus.split), hub_records(shim, corpus.lang, corpus.split)

    held_out: set[str] = set()
    if task.reference_lang is not None:
        try:
            held_out = {e.target for e in load_examples(task, task.reference_lang, task.eval_split, data_dir=data_dir,
                                                        source=source, on_empty=on_empty)}
        except DataError as err:  # no evaluation data here: nothing to hold out
            log.info("%s: no evaluation references to hold out (%s)", task.name, err)
    return gather_training_text(task, read, held_out)


def _load_local_train(task: Task, ddir: Path, on_empty: str | None) -> list[Example]:
    lang, split = task.train_lang, task.train_split
    path = split_file(task, lang, split, ddir)
    if path is not None:
        return _load_file(task, path, lang, split, on_empty)
    for fallback in task.train_fallback:
        alt = split_file(task, lang, fallback, ddir)
        if alt is None:
            continue
        examples = _load_file(task, alt, lang, fallback, on_empty)
        msg = (
            f"{task.name}: the English training split ({expected_file(task, lang, split, ddir)}) is not in the "
            f"data folder; training on the documented substitute {alt} ({len(examples)} rows, "
            f"{lang} {fallback}) instead of {task.train_source.split(';')[0]}. Results are not comparable "
            f"to the paper's; never evaluate this model on the {fallback} split (its other languages are "
            f"translations of these training rows). See docs/tasks.md."
        )
        log.warning(msg)
        warnings.warn(msg, TrainFallbackWarning, stacklevel=3)
        return examples
    tried = [expected_file(task, lang, s, ddir) for s in [split, *task.train_fallback]]
    raise DataError(f"task {task.name!r}: no English training data in the data folder (looked for {', '.join(tried)})")


def available_languages(
    task: Task | str, *, data_dir: str | os.PathLike | None = None, source: str = "auto"
) -> list[str]:
    """The evaluation languages a run should cover by default, in the task's order.

    local (or auto with the task present in the data folder): the languages whose eval split is
    there; hub (or auto without local data for the task): all of the task's languages.
    """
    task = get_task(task)
    _check_source(source)
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


# ---------------------------------------------------------------------------- status
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
    tt = _train_task(task)
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
