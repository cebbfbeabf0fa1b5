"""The English training data of a task, with a dev set carved from it: from its own train split,
another task's data (train_from), text corpora (generation tasks) or a documented fallback split."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from layerbridge.errors import ConfigError, DataError

from .base import Example, Task
from .corpora import corpus_reader, gather_training_text
from .hub import DOCS_HINT
from .local import expected_file, has_local_task, resolve_data_dir, split_file
from .loading import check_source, load_examples, load_file, load_hub
from .parallel_dev import parallel_dev
from .registry import get_task
from .sampling import split_train_dev

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())


# ISO 639-2's "multiple languages": the train language of a training file whose inputs are in many
# languages, e.g. bitext (docs/tasks.md, "Bitext"); its rows' targets are the English side
MULTILINGUAL = "mul"


CLOSED_FORM_TEXTS = 4000  # English training texts the closed-form starts are fitted on, at most


def english_texts(task: Task | str, examples: list[Example]) -> list[str]:
    """The English texts a run's closed-form starts (the lexical projector, the English mean state) are
    fitted on: the encoder inputs of the first CLOSED_FORM_TEXTS training examples, which are English
    text, except for a generation task whose inputs are in many languages (train language `mul`:
    bitext), where the English side is the target."""
    task = get_task(task)
    examples = examples[:CLOSED_FORM_TEXTS]
    if task.is_generation and train_task(task).train_lang == MULTILINGUAL:
        return [e.target for e in examples]
    return [e.text for e in examples]


class TrainFallbackWarning(UserWarning):
    """The English training split was missing locally; a documented substitute split is used."""


def train_task(task: Task) -> Task:
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
    dev_languages: list[str] | None = None,
) -> tuple[list[Example], list[Example]]:
    """English training examples and a held-out dev set carved from them (disjoint, stratified).

    dev_size: "auto" or None = min(1000, 10% of the English training rows); an int count (0: no dev
    set); a fraction in (0, 1).
    dev_languages: the dev rows read in these languages instead of English, where the task's training text
    has the same rows in other languages (tasks/parallel_dev.py; flores_en).
    The dev set is carved first, then train_limit caps the rest (per-class stratified).
    source="auto": a task present in the data folder trains from it (with its documented fallback
    split if the train split is missing); otherwise from the hub.
    """
    task = get_task(task)
    check_source(source)
    tt = train_task(task)
    lang, split = tt.train_lang, tt.train_split
    if tt.train_corpora:
        examples = load_corpora(tt, data_dir, source, on_empty)
    elif tt.files is not None:
        if source == "hub":
            raise ConfigError(f"task {tt.name!r} comes from {tt.task_file} and has no hub source")
        examples = load_file(tt, tt.files[lang][split], lang, split, on_empty)
    else:
        ddir = resolve_data_dir(data_dir) if source != "hub" else None
        if source == "local" or (source == "auto" and has_local_task(tt, ddir)):
            if ddir is None:
                raise DataError(f"source 'local' needs a data folder: {DOCS_HINT}")
            examples = load_local_train(tt, ddir, on_empty)
        else:
            examples = load_hub(tt, lang, split, on_empty)
    if not examples:
        raise DataError(f"task {tt.name!r}: the English training data is empty")
    train, dev = split_train_dev(examples, dev_size=dev_size, train_limit=train_limit, seed=seed)
    if dev_languages:
        dev = parallel_dev(tt, dev, list(dev_languages), data_dir=data_dir, source=source)
    return train, dev


def load_corpora(task: Task, data_dir, source: str, on_empty: str | None) -> list[Example]:
    """English text from every training corpus (local file if present, else the hub), minus the
    evaluation references of the reference language."""
    held_out: set[str] = set()
    if task.reference_lang is not None:
        try:
            held_out = {e.target for e in load_examples(task, task.reference_lang, task.eval_split, data_dir=data_dir,
                                                        source=source, on_empty=on_empty)}
        except DataError as err:  # no evaluation data here: nothing to hold out
            log.info("%s: no evaluation references to hold out (%s)", task.name, err)
    return gather_training_text(task, corpus_reader(task, data_dir, source), held_out)


def load_local_train(task: Task, ddir: Path, on_empty: str | None) -> list[Example]:
    lang, split = task.train_lang, task.train_split
    path = split_file(task, lang, split, ddir)
    if path is not None:
        return load_file(task, path, lang, split, on_empty)
    for fallback in task.train_fallback:
        alt = split_file(task, lang, fallback, ddir)
        if alt is None:
            continue
        examples = load_file(task, alt, lang, fallback, on_empty)
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
