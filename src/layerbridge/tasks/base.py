"""The task model: what a task is (prompt, label words or target, languages, sources) and one example.

Two kinds of task: `classification` (the LLM produces one of `label_words`) and `generation` (the LLM
writes free text: `target`, a template over the row's columns). A `Task` is a checked description
(its rules: `rules`) that answers questions about its rows; reading data lives in
`readers`/`convert`/`local`/`hub`/`user`.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from layerbridge.errors import ConfigError

from .rules import DEFAULT_METRICS, EMPTY_TEXT_RULES, GENERATION_METRICS, KINDS, LABEL_FIELD, METRICS, check_task
from .rules import template_fields

__all__ = ["Example", "GENERATION_METRICS", "HubSpec", "KINDS", "METRICS", "Task", "TextCorpus", "is_blank"]


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
        return row_id_of(self.id)


def row_id_of(example_id: str) -> str:
    """The row id in an example id "<task>/<lang>/<split>/<row id>" (what parallel test sets share
    across languages; predictions files keep the whole example id)."""
    return example_id.split("/", 3)[3]


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


@dataclass(kw_only=True)  # built by name: the fields are grouped by meaning, not by what is required
class Task:
    """A task: the encoder prompt, what the LLM must produce (one of `label_words`, or the text of
    `target`), its languages and where its data comes from. Every rule about the fields is checked
    on construction (`rules.check_task`); a broken one raises a TaskFieldError naming the field."""

    # --- what the task is ---
    name: str
    prompt: str  # the encoder input: a template over the row's columns, e.g. "Review: {text} Label: "
    languages: list[str]  # evaluation languages
    train_lang: str  # the language of the training data
    low_resource: list[str] = field(default_factory=list)  # a subset of languages
    description: str = ""
    kind: str = "classification"  # "classification" | "generation"
    metrics: tuple[str, ...] | None = None  # default: the kind's (rules.DEFAULT_METRICS); the first is the headline
    instruction: str = ""  # what the LLM reads after the soft tokens by default (e.g. "Translate into English: ")
    # --- classification: the LLM writes one of label_words ---
    label_words: list[str] = field(default_factory=list)
    label_field: str | None = None  # the label column (default "label")
    label_map: dict[Any, str] | None = None  # source label value -> label word
    # --- generation: the LLM writes free text ---
    target: str | None = None  # template over columns, e.g. "{answer}"
    max_target_length: int | None = None  # LLM tokens of a training target; longer ones are cut (and counted)
    reference_lang: str | None = None  # the target is the row with the same id in this language (parallel data)
    # how its outputs are decoded by default (layerbridge.decoding.Decoding fields, e.g. no_repeat_ngram_size);
    # saved with a bridge trained on it (generation_config.json), so evaluate / predict / generate use them
    decoding: dict[str, Any] = field(default_factory=dict)
    train_corpora: list[TextCorpus] = field(default_factory=list)  # English text whose target is itself
    # --- where its rows come from ---
    # evaluation tasks whose rows (or translations of them) this task's data holds, e.g. ["xnli"] for bitext
    # made of XNLI's premises: a bridge trained on it (or started from one that was) is never evaluated on them
    derived_from: list[str] = field(default_factory=list)
    # --- rows and splits (column names are those of the local data format and of user task files) ---
    id_field: str | None = None
    eval_split: str = "test"
    train_split: str = "train"
    on_empty_text: str = "skip"  # rows with empty text: "skip" (with a printed count) or "error"
    # --- sources ---
    # Splits of train_lang to use, in order, when train_split is missing from a LOCAL folder; never a test split.
    train_fallback: list[str] = field(default_factory=list)
    train_from: str | None = None  # another task whose English training data this task uses
    train_source: str = ""  # human-readable, for `layerbridge tasks` (user tasks: the training file)
    local_name: str | None = None  # folder name in the data dir (default: name)
    hub: HubSpec | None = None
    files: dict[str, dict[str, Path]] | None = None  # user tasks: lang -> split -> file
    task_file: Path | None = None  # user tasks: the YAML/JSON file it came from

    def __post_init__(self) -> None:
        # the kind's defaults for what was not given, then every rule, then what follows from valid fields
        if self.kind == "classification" and self.label_field is None:
            self.label_field = LABEL_FIELD
        if self.metrics is None and self.kind in DEFAULT_METRICS:
            self.metrics = DEFAULT_METRICS[self.kind]
        check_task(self)
        self.metrics = tuple(self.metrics)
        if not self.train_source and self.files is not None:
            train_file = self.files[self.train_lang][self.train_split]
            self.train_source = f"{self.train_lang} {self.train_split} ({Path(train_file).name})"

    # ------------------------------------------------------------------ kind
    @property
    def is_generation(self) -> bool:
        return self.kind == "generation"

    @property
    def headline_metric(self) -> str:
        """The metric a report leads with: accuracy (classification), the first of `metrics` (generation)."""
        return self.metrics[0] if self.is_generation else "accuracy"

    def evaluation_mode(self, requested: str) -> str:
        """How the task is evaluated: "generation" for a generation task, else the requested
        classification mode (rank / rank_mean / generate)."""
        return "generation" if self.is_generation else requested

    # ------------------------------------------------------------------ languages
    def has_language(self, lang: str) -> bool:
        return lang in self.languages or lang == self.train_lang

    def check_language(self, lang: str) -> None:
        if not self.has_language(lang):
            shown = ", ".join(self.languages[:40]) + (" ..." if len(self.languages) > 40 else "")
            raise ConfigError(f"task {self.name!r} has no language {lang!r}; languages: {shown}")

    def paired_language(self, lang: str) -> str | None:
        """The language whose row of the same id gives `lang`'s rows their targets (parallel data), or
        None when a row holds its own answer."""
        return self.reference_lang if self.reference_lang not in (None, lang) else None

    @property
    def folder(self) -> str:
        return self.local_name or self.name

    # ------------------------------------------------------------------ columns of a row
    @property
    def text_fields(self) -> tuple[str, ...]:
        """The columns the prompt uses, in order (its {field} placeholders)."""
        return template_fields(self.prompt)

    @property
    def target_fields(self) -> tuple[str, ...]:
        """The columns the target template uses (generation tasks; none for classification)."""
        return template_fields(self.target) if self.target else ()

    def holds_target(self, lang: str) -> bool:
        """Whether a row of `lang` holds its own target (a generation task, unless the target comes from
        the paired language's row)."""
        return self.is_generation and self.paired_language(lang) is None

    def answer_fields(self, lang: str) -> tuple[str, ...]:
        """The columns holding a row's answer in `lang`: the label column (classification), the target's
        columns (generation), none when the target comes from the paired language's row."""
        if not self.is_generation:
            return (self.label_field,)
        return self.target_fields if self.holds_target(lang) else ()

    def required_columns(self, lang: str) -> list[str]:
        """Every column a row of `lang` must have: the prompt's, the answer's, the id."""
        ids = [self.id_field] if self.id_field else []
        return list(dict.fromkeys([*self.text_fields, *self.answer_fields(lang), *ids]))

    def text_columns(self, lang: str) -> tuple[str, ...]:
        """The columns that must hold non-empty text: the prompt's, and a generation row's own target."""
        own_target = self.target_fields if self.holds_target(lang) else ()
        return tuple(dict.fromkeys(self.text_fields + own_target))

    def empty_text_rule(self, override: str | None = None) -> str:
        """What rows with empty text get, 'skip' or 'error': `override` (a loading argument) or on_empty_text."""
        rule = override or self.on_empty_text
        if rule not in EMPTY_TEXT_RULES:
            raise ConfigError(f"on_empty must be 'skip' or 'error', not {rule!r}")
        return rule

    # ------------------------------------------------------------------ rendering
    def render(self, row: Mapping[str, Any]) -> str:
        """The encoder input for one source row (its text fields, surrounding whitespace stripped)."""
        values = {}
        for name in self.text_fields:
            if name not in row:
                raise KeyError(name)
            values[name] = str(row[name]).strip()
        return self.prompt.format_map(values)

    def render_target(self, row: Mapping[str, Any]) -> str:
        """The text the LLM must write for one source row (generation tasks)."""
        return self.target.format_map({name: str(row[name]).strip() for name in self.target_fields})

    @property
    def prompt_prefix(self) -> str:
        """The literal text before the first placeholder (e.g. "Premise: ")."""
        return next(iter(string.Formatter().parse(self.prompt)))[0]

    def answer(self, row: Mapping[str, Any], lang: str) -> tuple[int, str]:
        """(label index, target) of one row: (index, "") for classification (ValueError for a value that is
        no label), (-1, target) for generation, (-1, "") when the paired language gives the target."""
        if not self.is_generation:
            return self.label_index(row[self.label_field]), ""
        return -1, self.render_target(row) if self.holds_target(lang) else ""

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


def is_blank(text: str) -> bool:
    """Empty after stripping whitespace and zero-width format characters (e.g. U+200D)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)
