"""What makes a task valid: every rule about a task's fields, in one place.

`Task.__post_init__` runs `check_task`, so a built-in task, a `register_task` addition and a user
task file (tasks/user.py only parses the file and maps its names onto Task's) obey the same rules.
Each broken rule raises a `TaskFieldError` naming the Task field at fault (`label_map.pos`,
`files.si.test` for a part of one); the task-file reader reports it under the file's own name.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerbridge.errors import ConfigError, DataError

from .readers import FORMATS, header_columns

if TYPE_CHECKING:
    from .base import Task

KINDS = ("classification", "generation")
METRICS = ("accuracy", "macro_f1")
GENERATION_METRICS = ("chrf", "bleu", "exact_match", "numeric_match")  # the first one listed is the headline
KNOWN_METRICS = {"classification": METRICS, "generation": GENERATION_METRICS}
DEFAULT_METRICS = {"classification": METRICS, "generation": GENERATION_METRICS[:3]}
EMPTY_TEXT_RULES = ("skip", "error")  # rows with empty text: skipped (counted, printed) or an error
LABEL_FIELD = "label"  # a classification task's label column unless it names another


class TaskFieldError(ConfigError):
    """A task field that breaks a rule. `field` is the Task attribute (dotted for a part of one)."""

    def __init__(self, task: str, field: str, reason: str):
        self.task, self.field, self.reason = task, field, reason
        super().__init__(f"task {task!r}: field {field!r}: {reason}")


def template_fields(template: Any) -> tuple[str, ...]:
    """The {column} placeholders of a prompt or target template, in order; ValueError if malformed."""
    if not isinstance(template, str) or not template:
        raise ValueError("must be a non-empty string")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"malformed template {template!r} ({err}); write a literal brace as {{{{ or }}}}") from None
    fields: list[str] = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name or not name.isidentifier():
            raise ValueError(f"placeholder {{{name}}} must be a column name such as {{text}}")
        if spec or conv:
            raise ValueError(f"placeholder {{{name}}} may not carry a format spec or conversion")
        if name not in fields:
            fields.append(name)
    if not fields:
        raise ValueError("has no {field} placeholder, e.g. 'Review: {text} Label: '")
    return tuple(fields)


def check_task(task: Task) -> None:
    """Every rule, in the order a task file's problems are reported. Changes nothing."""
    fail = functools.partial(TaskFieldError, task.name if isinstance(task.name, str) else repr(task.name))
    _text(fail, "name", task.name)
    _template(fail, "prompt", task.prompt)
    if task.kind not in KINDS:
        raise fail("kind", f"must be 'classification' or 'generation', got {task.kind!r}")
    if task.is_generation:
        _check_generation(task, fail)
    else:
        _check_classification(task, fail)
    _metrics(task, fail)
    _check_common(task, fail)
    if task.files is not None:
        _check_files(task, fail)
    if task.train_split == task.eval_split:
        raise fail("train_split", f"the training split cannot be the evaluation split {task.eval_split!r}")
    bad = [s for s in task.train_fallback if s in (task.eval_split, "test")]
    if bad:
        raise fail("train_fallback", f"a test split cannot be a training fallback ({bad})")


# ------------------------------------------------------------------ field types (fail: field, reason -> error)
def _text(fail, field: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise fail(field, f"must be a non-empty string, got {value!r}")


def _names(fail, field: str, value: Any, *, required: bool = True) -> None:
    """A list of non-empty strings without repeats (non-empty when required)."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(field, f"must be a list of non-empty strings, got {value!r}")
    if required and not value:
        raise fail(field, "missing (required): give at least one")
    if len(set(value)) != len(value):
        raise fail(field, "has repeated entries")


def _template(fail, field: str, value: Any) -> tuple[str, ...]:
    try:
        return template_fields(value)
    except ValueError as err:
        raise fail(field, str(err)) from None


def _metrics(task: Task, fail) -> None:
    known, metrics = KNOWN_METRICS[task.kind], task.metrics
    if not isinstance(metrics, (list, tuple)) or not metrics or any(m not in known for m in metrics):
        raise fail("metrics", f"must be a non-empty list of {list(known)}, got {metrics!r}")


# ------------------------------------------------------------------ the two kinds
def _check_classification(task: Task, fail) -> None:
    _names(fail, "label_words", task.label_words)
    _text(fail, "label_field", task.label_field)
    if task.label_map is not None:
        if not isinstance(task.label_map, dict) or not task.label_map:
            raise fail("label_map", "must be a mapping of source label value -> label word")
        for key, word in task.label_map.items():
            if word not in task.label_words:
                raise fail(f"label_map.{key}", f"target {word!r} is not one of label_words {task.label_words}")
    for field in ("target", "max_target_length", "reference_lang"):
        if getattr(task, field) is not None:
            raise fail(field, "only a generation task (kind: generation) has a target")
    if task.train_corpora:
        raise fail("train_corpora", "only a generation task trains on text corpora")


def _check_generation(task: Task, fail) -> None:
    for field, empty in (("label_words", []), ("label_field", None), ("label_map", None)):
        if getattr(task, field) not in (empty, None):
            raise fail(field, "a generation task has a target, not labels")
    if task.target is None:
        raise fail("target", "missing: a generation task needs a target template such as '{answer}'")
    _template(fail, "target", task.target)
    length = task.max_target_length
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
        raise fail("max_target_length", f"must be a positive number of LLM tokens, got {length!r}")
    if task.train_corpora and task.text_fields != ("text",):
        raise fail("prompt", "a task trained on text corpora reads one column, {text}, in its prompt")
    _decoding(task, fail)


def _decoding(task: Task, fail) -> None:
    from layerbridge.decoding import Decoding

    if not isinstance(task.decoding, dict):
        raise fail("decoding", f"must be a mapping of decoding settings, got {task.decoding!r}")
    try:
        Decoding.from_dict(task.decoding)
    except (ConfigError, TypeError) as err:
        raise fail("decoding", str(err)) from None


# ------------------------------------------------------------------ languages, columns, splits
def _check_common(task: Task, fail) -> None:
    if not isinstance(task.instruction, str):
        raise fail("instruction", f"must be text, got {task.instruction!r}")
    _names(fail, "languages", task.languages)
    _text(fail, "train_lang", task.train_lang)
    _names(fail, "low_resource", task.low_resource, required=False)
    _names(fail, "derived_from", task.derived_from, required=False)
    if task.name in task.derived_from:
        raise fail("derived_from", f"names the task itself ({task.name!r}): list the evaluation tasks its rows come from")
    for lang in task.low_resource:
        if lang not in task.languages:
            raise fail("low_resource", f"{lang!r} is not in languages {task.languages}")
    if task.id_field is not None and (not isinstance(task.id_field, str) or not task.id_field.strip()):
        raise fail("id_field", f"must be a column name, got {task.id_field!r}")
    if task.reference_lang is not None:
        if not task.has_language(task.reference_lang):
            raise fail("reference_lang", f"{task.reference_lang!r} is neither in languages nor the train language")
        if task.id_field is None:
            raise fail("reference_lang", "pairs rows across languages by id: give id_field too")
    _text(fail, "eval_split", task.eval_split)
    _text(fail, "train_split", task.train_split)
    if task.on_empty_text not in EMPTY_TEXT_RULES:
        raise fail("on_empty_text", f"must be 'skip' or 'error', got {task.on_empty_text!r}")


# ------------------------------------------------------------------ a user task's data files
def _check_files(task: Task, fail) -> None:
    """Every data file exists, is a supported format and has the columns its language needs; the
    train language has a training file and every evaluation language an evaluation file of its own."""
    for lang, splits in task.files.items():
        if not task.has_language(lang):
            raise fail(f"files.{lang}", f"language {lang!r} is neither in languages nor the train language")
        for split, file in splits.items():
            _check_file(task, fail, f"files.{lang}.{split}", Path(file), lang)
    train_file = task.files.get(task.train_lang, {}).get(task.train_split)
    if train_file is None:
        raise fail(f"files.{task.train_lang}.{task.train_split}", "the training file for the train language is missing")
    for lang in task.languages:
        eval_file = task.files.get(lang, {}).get(task.eval_split)
        if eval_file is None:
            raise fail(f"files.{lang}.{task.eval_split}", f"no {task.eval_split} file for language {lang!r}")
        if eval_file == train_file:
            raise fail(f"files.{lang}.{task.eval_split}", f"is the training file {Path(train_file).name}")


def _check_file(task: Task, fail, field: str, file: Path, lang: str) -> None:
    if not file.is_file():
        raise fail(field, f"data file {file} not found")
    if file.suffix.lower() not in FORMATS:
        raise fail(field, f"{file.name}: use a .jsonl, .csv or .tsv file")
    try:
        columns = header_columns(file)
    except DataError as err:
        raise fail(field, str(err)) from None
    if columns is None:
        raise fail(field, f"data file {file} has no rows")
    missing = [c for c in task.required_columns(lang) if c not in columns]
    if missing:
        raise fail(field, f"data file {file} has no column {missing[0]!r} (columns: {columns})")
