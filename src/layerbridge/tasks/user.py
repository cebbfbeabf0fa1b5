"""User-defined tasks from a YAML or JSON task file (format: docs/tasks.md).

Everything is checked when the file is loaded: here the file's shape, then every rule about the task
by `Task` itself (tasks/rules.py); each problem is a ConfigError naming the task file and the field
under the file's name (e.g. `files.si.test`, `train_language`). Data paths are relative to the task file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from layerbridge.errors import ConfigError

from .base import Task
from .rules import TaskFieldError

REQUIRED = ("name", "prompt", "train_language", "languages", "files")  # and label_words, for classification
OPTIONAL = (
    "kind",
    "label_words",
    "target",
    "target_field",
    "max_target_length",
    "instruction",
    "metrics",
    "reference_language",
    "description",
    "label_field",
    "label_map",
    "text_fields",
    "id_field",
    "eval_split",
    "train_split",
    "low_resource",
    "on_empty_text",
    "decoding",
    "derived_from",
)
# A task file's field -> Task's argument, where the names differ ("target_field: answer" is "target: '{answer}'").
TASK_ARGUMENT = {"train_language": "train_lang", "reference_language": "reference_lang", "target_field": "target"}


def load_task_file(path: str | Path) -> Task:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"task file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the task file is not UTF-8") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            spec = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            spec = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: a task file must end in .yaml, .yml or .json")
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    except ConfigError:
        raise
    except Exception as err:  # yaml.YAMLError and friends
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{at}: invalid YAML ({getattr(err, 'problem', None) or err})") from None
    return task_from_spec(spec, path)


def task_from_spec(spec: Any, path: Path) -> Task:
    """The Task a parsed task file describes. Checks only the file's shape (a mapping of known fields,
    the fields every task needs present, data paths) and that `text_fields`, a field of the file alone,
    names the prompt's placeholders; every rule about the task is Task's (label_words of a classification
    task included), and its errors are reported here under the file's field names."""

    def fail(field: str, msg: str) -> ConfigError:
        return ConfigError(f"{path}: field {field!r}: {msg}")

    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a mapping of task fields at the top level")
    unknown = [k for k in spec if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise fail(unknown[0], f"unknown field (known fields: {', '.join(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in spec or spec[key] in (None, "", [], {}):
            raise fail(key, "missing (required)")
    if "target" in spec and "target_field" in spec:
        raise fail("target_field", "give exactly one of target_field (a column) or target (a template such as '{answer}')")
    try:
        task = Task(**task_arguments(spec, path, fail))
    except TaskFieldError as err:
        raise fail(file_field(err.field, spec), err.reason) from None
    if "text_fields" in spec and (not isinstance(spec["text_fields"], list)
                                  or set(spec["text_fields"]) != set(task.text_fields)):
        raise fail("text_fields", f"{spec['text_fields']} must match the prompt's placeholders {list(task.text_fields)}")
    return task


def task_arguments(spec: dict, path: Path, fail) -> dict[str, Any]:
    """Task's keyword arguments for a task file's fields: names mapped, data paths resolved; a field
    given as null keeps Task's default."""
    args = {TASK_ARGUMENT.get(k, k): v for k, v in spec.items() if k not in ("text_fields", "files") and v is not None}
    if "target_field" in spec:
        column = spec["target_field"]
        if not isinstance(column, str) or not column.strip():
            raise fail("target_field", f"must be a column name, got {column!r}")
        args["target"] = "{" + column + "}"
    args["description"] = str(spec.get("description", ""))
    return {**args, "files": data_files(spec["files"], path, fail), "task_file": path}


def data_files(files: Any, path: Path, fail) -> dict[str, dict[str, Path]]:
    """`files` (language -> split -> path relative to the task file) with the paths resolved."""
    if not isinstance(files, dict):
        raise fail("files", "must map language -> split -> data file")
    out: dict[str, dict[str, Path]] = {}
    for lang, splits in files.items():
        if not isinstance(splits, dict) or not splits:
            raise fail(f"files.{lang}", "must map split -> data file (e.g. test: data/test.jsonl)")
        out[str(lang)] = {}
        for split, rel in splits.items():
            if not isinstance(rel, str) or not rel.strip():
                raise fail(f"files.{lang}.{split}", f"must be a file path, got {rel!r}")
            out[str(lang)][str(split)] = (path.parent / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
    return out


def file_field(task_field: str, spec: dict) -> str:
    """A Task field (maybe dotted: label_map.pos) under its task-file name."""
    head, dot, rest = task_field.partition(".")
    if head == "target" and "target" not in spec:
        return "target_field" + dot + rest
    names = {arg: name for name, arg in TASK_ARGUMENT.items() if arg != "target"}
    return names.get(head, head) + dot + rest
