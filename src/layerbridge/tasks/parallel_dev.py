"""The dev set read in other languages (`--dev-languages`): English dev chrF++ chooses the weights that
restate English best, which is not the step that carries most into other languages (docs/generation.md,
"A real budget"). A generation task whose English training text includes its own evaluation source
(flores_en: SIB-200's FLORES-200 sentences, the same rows in every language) can score its held-out dev
rows read in other languages instead, each with its English text as target. Pick languages you do not
evaluate on, or the dev set chooses for the test languages.
"""

from __future__ import annotations

import dataclasses
import logging

from layerbridge.errors import ConfigError, DataError

from .base import Example, Task, TextCorpus, is_blank, row_id_of
from .corpora import corpus_reader

log = logging.getLogger(__name__)


def parallel_corpora(task: Task) -> list[TextCorpus]:
    """The training corpora with the same rows in every language of the task: those of its own
    evaluation source (folder `task.folder`)."""
    return [c for c in task.train_corpora if c.folder == task.folder]


def parallel_dev(task: Task, dev: list[Example], languages: list[str], *, data_dir=None,
                 source: str = "auto") -> list[Example]:
    """`dev`'s rows that come from a parallel corpus, read in each of `languages` (in that order; each
    row's target stays its English text). Rows of other corpora (flores_en: the BBC news) are left out.
    Refuses a task without parallel training text, a language the task lacks, and rows that do not line
    up across languages (the file and row named)."""
    corpora = parallel_corpora(task)
    if not task.is_generation or not corpora:
        raise ConfigError(f"--dev-languages: task {task.name!r} has no English training text with the same rows in "
                          f"other languages (a generation task trained on its own evaluation source, e.g. flores_en)")
    for lang in languages:
        task.check_language(lang)
    by_key = {f"{c.folder}.{c.split}": c for c in corpora}  # corpus_examples' row ids: <folder>.<split>.<row>
    kept = [(e, key, int(number)) for e in dev for key, _, number in [row_id_of(e.id).rpartition(".")] if key in by_key]
    if not kept:
        raise ConfigError(f"--dev-languages: none of the {len(dev)} dev rows of {task.name} comes from "
                          f"{', '.join(c.folder + '/' + c.split for c in corpora)} (raise --dev-size)")
    rows = {}  # (corpus, language or None for the English rows the dev set was carved from) -> (where, rows)
    for key in dict.fromkeys(key for _, key, _ in kept):
        rows[key, None] = numbered(corpus_reader(task, data_dir, source), by_key[key])
        for lang in languages:
            read = corpus_reader(task, data_dir, source, role=f"the dev rows in {lang}, --dev-languages")
            rows[key, lang] = numbered(read, dataclasses.replace(by_key[key], lang=lang))
    out = []
    for lang in languages:
        for example, key, number in kept:
            text = lined_up(task, rows[key, None], rows[key, lang], number, by_key[key].field)
            out.append(Example(id=f"{task.name}/{lang}/dev/{row_id_of(example.id)}", text=task.render({"text": text}),
                               label=-1, lang=lang, target=example.target))
    log.info("%s: dev set of %d rows read in %s", task.name, len(kept), ", ".join(languages))
    return out


def dev_rows(dev: list[Example]) -> int:
    """How many rows a dev set scores, each counted once however many languages read it."""
    return len({row_id_of(e.id) for e in dev})


def numbered(read, corpus: TextCorpus) -> tuple[str, dict[int, dict]]:
    """(where, row number -> row) of one corpus in one language."""
    where, records = read(corpus)
    return where, dict(records)


def lined_up(task: Task, english: tuple[str, dict], other: tuple[str, dict], number: int, field: str) -> str:
    """Row `number`'s text in the other language, after checking it is the English row's translation
    (the same task id, e.g. FLORES's index_id, where the rows have one)."""
    (english_where, english_rows), (where, rows) = english, other
    row = rows.get(number)
    if row is None or not isinstance(row.get(field), str) or is_blank(row[field]):
        raise DataError(f"{where}:{number}: no {field!r} text for the dev row of {english_where}:{number}")
    if task.id_field and row.get(task.id_field) != english_rows[number].get(task.id_field):
        raise DataError(f"{where}:{number}: {task.id_field} {row.get(task.id_field)!r} is not the English row's "
                        f"({english_where}:{number}: {english_rows[number].get(task.id_field)!r}): the files do not "
                        f"line up row by row")
    return row[field].strip()
