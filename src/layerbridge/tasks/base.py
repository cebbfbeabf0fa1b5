"""The task model: what a task is (prompt, label words or target, languages, sources) and one example.

Two kinds of task: `classification` (the LLM produces one of `label_words`) and `generation` (the LLM
writes free text: `target`, a template over the row's columns). A `Task` is pure description;
reading data lives in `readers`/`convert`/`local`/`hub`/`user`.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from layerbridge.errors import ConfigError

METRICS = ("accuracy", "macro_f1")
GENERATION_METRICS = ("chrf", "bleu", "exact_match", "numeric_match")  # the first one listed is the headline
KINDS = ("classification", "generation")


@dataclass(frozen=True)
class Example:
    """One example, ready for the bridge.

    text:   the rendered ENCODER input, e.g. "Premise: ... Hypothesis: ... Label: "
    label:  index into `task.label_words` (classification); -1 for generation tasks
    target: the free text the LLM must write (generation tasks); "" for classification
    id:     "<task>/<lang>/<split>/<row id>": the row id is the source's id column when the task
            has one, else the 1-based line (file) or row (hub) number.
    """

    id: str
    text: str
    label: int
    lang: str
    target: str = ""

    @property
    def row_id(self) -> str:
        return self.id.split("/", 3)[3]


@dataclass(frozen=True)
class HubSpec:
    """Where a task lives on the Hugging Face Hub (loaded with `datasets.load_dataset`).

    `config` and `split` are templates over {lang} and {split}; `columns` renames hub columns
    to the task's own column names (the names of the local data format).
    """

    path: str
    config: str | None = "{lang}"
    split: str = "{split}"
    columns: Mapping[str, str] = field(default_factory=dict)

    def config_for(self, lang: str) -> str | None:
        return None if self.config is None else self.config.format(lang=lang)

    def split_for(self, lang: str, split: str) -> str:
        return self.split.format(lang=lang, split=split)


@dataclass(frozen=True)
class TextCorpus:
    """One source of English training text for a generation task whose target restates its input
    (`flores_en`): a column of another task's split, locally `<data_dir>/<folder>/<lang>/<split>.*`."""

    folder: str
    lang: str
    split: str
    field: str = "text"
    hub: HubSpec | None = None


@dataclass
class Task:
    """A task: encoder prompt, label words (classification) or a target template (generation),
    languages and data sources."""

    name: str
    languages: list[str]
    low_resource: list[str]
    label_words: list[str]
    prompt: str
    train_lang: str
    eval_split: str = "test"
    metrics: tuple[str, ...] = METRICS
    # --- columns (the names used by the local data format and by user task files) ---
    label_field: str = "label"
    id_field: str | None = None
    label_map: dict[Any, str] | None = None  # source label value -> label word
    # --- sources ---
    description: str = ""
    train_split: str = "train"
    # Splits of train_lang to use, in order, when train_split is missing from a LOCAL folder.
    # Never a test split (checked in __post_init__).
    train_fallback: list[str] = field(default_factory=list)
    train_from: str | None = None  # another task whose English training data this task uses
    train_source: str = ""  # human-readable, for `layerbridge tasks`
    local_name: str | None = None  # folder name in the data dir (default: name)
    hub: HubSpec | None = None
    files: dict[str, dict[str, Path]] | None = None  # user tasks: lang -> split -> file
    task_file: Path | None = None  # user tasks: the YAML/JSON file it came from
    on_empty_text: str = "skip"  # "skip" (with a printed count) or "error"
    # --- generation tasks ---
    kind: str = "classification"  # "classification" | "generation"
    target: str | None = None  # template over columns, e.g. "{answer}" (generation)
    max_target_length: int | None = None  # LLM tokens of a training target; longer ones are cut (and counted)
    instruction: str = ""  # what the LLM reads after the soft tokens by default (e.g. "Translate into English: ")
    reference_lang: str | None = None  # the target is the row with the same id in this language (parallel data)
    train_corpora: list[TextCorpus] = field(default_factory=list)  # English text whose target is itself

    def __post_init__(self) -> None:
        prompt_fields(self.prompt, where=f"task {self.name!r}: prompt")  # validates the template
        if self.kind not in KINDS:
            raise ConfigError(f"task {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "generation":
            self._check_generation()
        elif len(set(self.label_words)) != len(self.label_words) or not self.label_words:
            raise ConfigError(f"task {self.name!r}: label_words must be non-empty and unique")
        bad = [s for s in self.train_fallback if s == self.eval_split or s == "test"]
        if bad:
            raise ConfigError(f"task {self.name!r}: a test split cannot be a training fallback ({bad})")
        if self.label_map is not None:
            stray = sorted({str(w) for w in self.label_map.values() if w not in self.label_words})
            if stray:
                raise ConfigError(f"task {self.name!r}: label_map targets {stray} are not label_words {self.label_words}")
        if self.on_empty_text not in ("skip", "error"):
            raise ConfigError(f"task {self.name!r}: on_empty_text must be 'skip' or 'error'")

    def _check_generation(self) -> None:
        where = f"task {self.name!r}"
        if self.label_words or self.label_map:
            raise ConfigError(f"{where}: a generation task has a target, not label_words / label_map")
        if self.target is None:
            raise ConfigError(f"{where}: a generation task needs a target template such as '{{answer}}'")
        prompt_fields(self.target, where=f"{where}: target")
        if self.max_target_length is not None and self.max_target_length < 1:
            raise ConfigError(f"{where}: max_target_length must be >= 1, got {self.max_target_length}")
        if self.train_corpora and self.text_fields != ("text",):
            raise ConfigError(f"{where}: a task trained on text corpora reads one column, {{text}}, in its prompt")
        if self.reference_lang is not None and self.id_field is None:
            raise ConfigError(f"{where}: reference_lang needs an id_field to pair rows across languages")
        if self.metrics == METRICS:
            self.metrics = GENERATION_METRICS[:3]
        bad = [m for m in self.metrics if m not in GENERATION_METRICS]
        if bad or not self.metrics:
            raise ConfigError(f"{where}: metrics {bad or self.metrics} not among {GENERATION_METRICS}")

    @property
    def is_generation(self) -> bool:
        return self.kind == "generation"

    @property
    def target_fields(self) -> tuple[str, ...]:
        """The columns the target template uses (generation tasks; none for classification)."""
        return prompt_fields(self.target, where=f"task {self.name!r}: target") if self.target else ()

    def render_target(self, row: Mapping[str, Any]) -> str:
        """The text the LLM must write for one source row (generation tasks)."""
        return self.target.format_map({name: str(row[name]).strip() for name in self.target_fields})

    # ------------------------------------------------------------------ rendering
    @property
    def text_fields(self) -> tuple[str, ...]:
        """The columns the prompt uses, in order (its {field} placeholders)."""
        return prompt_fields(self.prompt, where=f"task {self.name!r}: prompt")

    def render(self, row: Mapping[str, Any]) -> str:
        """The encoder input for one source row (its text fields, surrounding whitespace stripped)."""
        values = {}
        for name in self.text_fields:
            if name not in row:
                raise KeyError(name)
            values[name] = str(row[name]).strip()
        return self.prompt.format_map(values)

    @property
    def prompt_prefix(self) -> str:
        """The literal text before the first placeholder (e.g. "Premise: ")."""
        return next(iter(string.Formatter().parse(self.prompt)))[0]

    # ------------------------------------------------------------------ labels
    def label_index(self, value: Any) -> int:
        """Map a source label value to an index into label_words; ValueError if it is not one."""
        if isinstance(value, bool) or value is None:
            raise ValueError(f"{value!r} is not a label")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{value!r} is not a label")
            value = int(value)
        if self.label_map is not None:
            for key in _key_variants(value):
                if key in self.label_map:
                    return self.label_words.index(self.label_map[key])
            raise ValueError(f"{value!r} is not one of the label_map keys {list(self.label_map)}")
        if isinstance(value, str):
            if value in self.label_words:
                return self.label_words.index(value)
            stripped = value.strip()
            if stripped.lstrip("-").isdigit():
                value = int(stripped)
        if isinstance(value, int) and 0 <= value < len(self.label_words):
            return value
        raise ValueError(
            f"{value!r} is neither a label word {self.label_words} nor an index 0..{len(self.label_words) - 1}"
        )

    @property
    def folder(self) -> str:
        return self.local_name or self.name

    def check_language(self, lang: str) -> None:
        if lang not in self.languages and lang != self.train_lang:
            shown = ", ".join(self.languages[:40]) + (" ..." if len(self.languages) > 40 else "")
            raise ConfigError(f"task {self.name!r} has no language {lang!r}; languages: {shown}")


def _key_variants(value: Any) -> list[Any]:
    """A label value as found in the data and its int/str twin (CSV gives "0", YAML keys give 0)."""
    out = [value]
    if isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        s = value.strip()
        if s != value:
            out.append(s)
        if s.lstrip("-").isdigit():
            out.append(int(s))
    return out


def prompt_fields(prompt: str, *, where: str) -> tuple[str, ...]:
    """The {field} placeholders of a prompt template, in order; ConfigError if malformed."""
    if not isinstance(prompt, str) or not prompt:
        raise ConfigError(f"{where}: must be a non-empty string")
    fields: list[str] = []
    try:
        parsed = list(string.Formatter().parse(prompt))
    except ValueError as err:
        raise ConfigError(f"{where}: malformed template {prompt!r} ({err}); write a literal brace as {{{{ or }}}}")
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name or not name.isidentifier():
            raise ConfigError(f"{where}: placeholder {{{name}}} must be a column name such as {{text}}")
        if spec or conv:
            raise ConfigError(f"{where}: placeholder {{{name}}} may not carry a format spec or conversion")
        if name not in fields:
            fields.append(name)
    if not fields:
        raise ConfigError(f"{where}: has no {{field}} placeholder, e.g. 'Review: {{text}} Label: '")
    return tuple(fields)


def is_blank(text: str) -> bool:
    """Empty after stripping whitespace and zero-width format characters (e.g. U+200D)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)
