"""Rows -> Examples, with the bad-data checks shared by local files, user files and the hub.

Rules (documented in docs/tasks.md):
- a missing column, a null or non-string text, a label outside the label set, a duplicate id:
  DataError naming the file (or hub split), the 1-based line (or row) and the field;
- empty text (only whitespace / zero-width characters): skipped, and the number skipped is
  printed as a warning; with on_empty="error" it is a DataError instead. An empty target of a
  generation task follows the same rule.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Iterable

from layerbridge.errors import DataError

from .base import Example, Task, is_blank

log = logging.getLogger(__name__)


class SkippedRowsWarning(UserWarning):
    """Rows were skipped (empty text); the message gives the count and where."""


def rows_to_examples(
    task: Task,
    records: Iterable[tuple[int, dict[str, Any]]],
    *,
    where: str,
    lang: str,
    split: str,
    on_empty: str | None = None,
    unit: str = "line",
) -> list[Example]:
    """Validate and convert (line, row) records. `where` names the file or hub split in messages."""
    on_empty = task.empty_text_rule(on_empty)
    examples: list[Example] = []
    seen_ids: dict[str, int] = {}
    skipped: list[int] = []
    for number, row in records:
        at = f"{where}:{number}" if unit == "line" else f"{where} row {number}"
        empty = _empty_field(task, row, lang, at)
        if empty is not None:
            if on_empty == "error":
                raise DataError(f"{at}: field {empty!r} is empty (only whitespace)")
            skipped.append(number)
            continue
        try:
            label, target = task.answer(row, lang)
        except ValueError as err:
            raise DataError(f"{at}: field {task.label_field!r}: label {err}") from None
        raw_id = _row_id(task, row, number, seen_ids, at, unit)
        examples.append(Example(id=f"{task.name}/{lang}/{split}/{raw_id}", text=task.render(row), label=label,
                                lang=lang, target=target))
    if skipped:
        _warn_skipped(skipped, len(examples), where=where, unit=unit, with_target=task.holds_target(lang))
    return examples


def _empty_field(task: Task, row: dict[str, Any], lang: str, at: str) -> str | None:
    """The first text column of the row that is empty (None: none is), after checking that the row has
    every column its task needs and that its text columns hold text."""
    missing = [f for f in task.required_columns(lang) if f not in row]
    if missing:
        raise DataError(f"{at}: missing field {missing[0]!r} (row has {sorted(row)})")
    empty = None
    for f in task.text_columns(lang):
        value = row[f]
        if value is None:
            raise DataError(f"{at}: field {f!r} is null")
        number_target = f not in task.text_fields and isinstance(value, (int, float)) and not isinstance(value, bool)
        if not isinstance(value, str) and not number_target:  # a target may be a number (math answers)
            raise DataError(f"{at}: field {f!r} must be text, got {type(value).__name__} {value!r}")
        if empty is None and is_blank(str(value)):
            empty = f
    return empty


def _row_id(task: Task, row: dict[str, Any], number: int, seen: dict[str, int], at: str, unit: str) -> str:
    """The row's id: its id column (non-empty, unique in the file), else its line or row number."""
    if not task.id_field:
        return str(number)
    raw_id = row[task.id_field]
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        raise DataError(f"{at}: field {task.id_field!r} (id) is empty")
    raw_id = str(raw_id).strip()
    if raw_id in seen:
        raise DataError(f"{at}: field {task.id_field!r}: duplicate id {raw_id!r} (first at {unit} {seen[raw_id]})")
    seen[raw_id] = number
    return raw_id


def _warn_skipped(skipped: list[int], kept: int, *, where: str, unit: str, with_target: bool) -> None:
    shown = ", ".join(str(n) for n in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
    msg = (f"{where}: skipped {len(skipped)} row(s) with empty text{' or target' if with_target else ''} "
           f"({unit}s {shown}); kept {kept}")
    log.warning(msg)
    warnings.warn(msg, SkippedRowsWarning, stacklevel=4)
