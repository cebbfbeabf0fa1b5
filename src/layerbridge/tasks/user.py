"""User-defined tasks from a YAML or JSON task file (format: docs/tasks.md).

Everything is checked when the file is loaded; each problem is a ConfigError naming the task
file and the field (e.g. `files.si.test`). Data paths are relative to the task file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from layerbridge.errors import ConfigError, DataError

from .base import GENERATION_METRICS, METRICS, Task, prompt_fields
from .readers import FORMATS, header_columns

REQUIRED = ("name", "prompt", "label_words", "train_language", "languages", "files")
GENERATION_REQUIRED = ("name", "prompt", "train_language", "languages", "files")  # kind: generation
OPTIONAL = (
    "kind",
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
)


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
    def fail(field: str, msg: str) -> ConfigError:
        return ConfigError(f"{path}: field {field!r}: {msg}")

    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a mapping of task fields at the top level")
    unknown = [k for k in spec if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise fail(unknown[0], f"unknown field (known fields: {', '.join(REQUIRED + OPTIONAL)})")
    kind = spec.get("kind", "classification")
    if kind not in ("classification", "generation"):
        raise fail("kind", f"must be 'classification' or 'generation', got {kind!r}")
    generation = kind == "generation"
    for key in GENERATION_REQUIRED if generation else REQUIRED:
        if key not in spec or spec[key] in (None, "", [], {}):
            raise fail(key, "missing (required)")
    if generation:
        misplaced = [k for k in ("label_words", "label_field", "label_map") if k in spec]
        if misplaced:
            raise fail(misplaced[0], "a generation task has a target (target_field or target), not labels")
    else:
        misplaced = [k for k in ("target", "target_field", "max_target_length", "reference_language") if k in spec]
        if misplaced:
            raise fail(misplaced[0], "only a task with kind: generation has a target")

    def string(key: str, default: str | None = None) -> str:
        value = spec.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def strings(key: str, default: list | None = None) -> list[str]:
        value = spec.get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise fail(key, f"must be a list of non-empty strings, got {value!r}")
        if len(set(value)) != len(value):
            raise fail(key, "has repeated entries")
        return list(value)

    name = string("name")
    prompt = string("prompt")
    placeholders = prompt_fields(prompt, where=f"{path}: field 'prompt'")
    if "text_fields" in spec:
        text_fields = strings("text_fields")
        if set(text_fields) != set(placeholders):
            raise fail(
                "text_fields",
                f"{text_fields} must match the prompt's placeholders {list(placeholders)}",
            )
    label_words = [] if generation else strings("label_words")
    label_field = string("label_field", "label")
    target, target_columns, max_target, reference_lang = None, [], None, None
    if generation:
        if ("target" in spec) == ("target_field" in spec):
            raise fail("target_field", "give exactly one of target_field (a column) or target (a template such as '{answer}')")
        target = "{" + string("target_field") + "}" if "target_field" in spec else string("target")
        where = "target_field" if "target_field" in spec else "target"
        target_columns = list(prompt_fields(target, where=f"{path}: field {where!r}"))
        max_target = spec.get("max_target_length")
        if max_target is not None and (isinstance(max_target, bool) or not isinstance(max_target, int) or max_target < 1):
            raise fail("max_target_length", f"must be a positive number of LLM tokens, got {max_target!r}")
        reference_lang = spec.get("reference_language")
    instruction = spec.get("instruction", "")
    if not isinstance(instruction, str):
        raise fail("instruction", f"must be text, got {instruction!r}")
    metrics = spec.get("metrics")
    if metrics is not None:
        known = GENERATION_METRICS if generation else METRICS
        if not isinstance(metrics, list) or not metrics or any(m not in known for m in metrics):
            raise fail("metrics", f"must be a non-empty list of {list(known)}, got {metrics!r}")
    id_field = spec.get("id_field")
    if id_field is not None and (not isinstance(id_field, str) or not id_field.strip()):
        raise fail("id_field", f"must be a column name, got {id_field!r}")
    label_map = spec.get("label_map")
    if label_map is not None:
        if not isinstance(label_map, dict) or not label_map:
            raise fail("label_map", "must be a mapping of source label value -> label word")
        for key, word in label_map.items():
            if word not in label_words:
                raise fail(f"label_map.{key}", f"target {word!r} is not one of label_words {label_words}")
    languages = strings("languages")
    train_lang = string("train_language")
    if reference_lang is not None:
        if reference_lang not in languages and reference_lang != train_lang:
            raise fail("reference_language", f"{reference_lang!r} is neither in languages nor the train_language")
        if id_field is None:
            raise fail("reference_language", "pairs rows across languages by id: give id_field too")
    eval_split = string("eval_split", "test")
    train_split = string("train_split", "train")
    low_resource = strings("low_resource", [])
    for lang in low_resource:
        if lang not in languages:
            raise fail("low_resource", f"{lang!r} is not in languages {languages}")
    on_empty = spec.get("on_empty_text", "skip")
    if on_empty not in ("skip", "error"):
        raise fail("on_empty_text", f"must be 'skip' or 'error', got {on_empty!r}")

    files_spec = spec["files"]
    if not isinstance(files_spec, dict):
        raise fail("files", "must map language -> split -> data file")
    files: dict[str, dict[str, Path]] = {}
    for lang, splits in files_spec.items():
        if not isinstance(splits, dict) or not splits:
            raise fail(f"files.{lang}", "must map split -> data file (e.g. test: data/test.jsonl)")
        if lang not in languages and lang != train_lang:
            raise fail(f"files.{lang}", f"language {lang!r} is neither in languages nor the train_language")
        files[str(lang)] = {}
        for split, rel in splits.items():
            field = f"files.{lang}.{split}"
            if not isinstance(rel, str) or not rel.strip():
                raise fail(field, f"must be a file path, got {rel!r}")
            file = (path.parent / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
            if not file.is_file():
                raise fail(field, f"data file {file} not found")
            if file.suffix.lower() not in FORMATS:
                raise fail(field, f"{file.name}: use a .jsonl, .csv or .tsv file")
            answer = (target_columns if reference_lang in (None, lang) else []) if generation else [label_field]
            needed = list(placeholders) + answer + ([id_field] if id_field else [])
            try:
                columns = header_columns(file)
            except DataError as err:
                raise fail(field, str(err)) from None
            if columns is None:
                raise fail(field, f"data file {file} has no rows")
            missing = [c for c in needed if c not in columns]
            if missing:
                raise fail(field, f"data file {file} has no column {missing[0]!r} (columns: {columns})")
            files[str(lang)][str(split)] = file
    if train_split not in files.get(train_lang, {}):
        raise fail(f"files.{train_lang}.{train_split}", "the training file for train_language is missing")
    if train_split == eval_split:
        raise fail("train_split", f"the training split cannot be the evaluation split {eval_split!r}")
    train_file = files[train_lang][train_split]
    for lang in languages:
        if eval_split not in files.get(lang, {}):
            raise fail(f"files.{lang}.{eval_split}", f"no {eval_split} file for language {lang!r}")
        if files[lang][eval_split] == train_file:
            raise fail(f"files.{lang}.{eval_split}", f"is the training file {train_file.name}")

    try:
        return Task(
            name=name,
            description=str(spec.get("description", "")),
            languages=languages,
            low_resource=low_resource,
            label_words=label_words,
            prompt=prompt,
            train_lang=train_lang,
            eval_split=eval_split,
            train_split=train_split,
            label_field=label_field,
            id_field=id_field,
            label_map=dict(label_map) if label_map is not None else None,
            train_source=f"{train_lang} {train_split} ({files[train_lang][train_split].name})",
            files=files,
            task_file=path,
            on_empty_text=on_empty,
            kind=kind,
            target=target,
            max_target_length=max_target,
            instruction=instruction,
            reference_lang=reference_lang,
            **({"metrics": tuple(metrics)} if metrics is not None else {}),
        )
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
