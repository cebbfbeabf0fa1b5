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
    on_empty = on_empty or task.on_empty_text
    if on_empty not in ("skip", "error"):
        raise ValueError(f"on_empty must be 'skip' or 'error', not {on_empty!r}")
    own_target = task.is_generation and task.reference_lang in (None, lang)  # else paired by id later
    answer_fields = list(task.target_fields) if own_target else [] if task.is_generation else [task.label_field]
    needed = list(dict.fromkeys(list(task.text_fields) + answer_fields + ([task.id_field] if task.id_field else [])))
    examples: list[Example] = []
    seen_ids: dict[str, int] = {}
    skipped: list[int] = []
    for number, row in records:
        at = f"{where}:{number}" if unit == "line" else f"{where} row {number}"
        missing = [f for f in needed if f not in row]
        if missing:
            raise DataError(f"{at}: missing field {missing[0]!r} (row has {sorted(row)})")
        empty = None
        for f in dict.fromkeys(task.text_fields + (task.target_fields if own_target else ())):
            value = row[f]
            if value is None:
                raise DataError(f"{at}: field {f!r} is null")
            number_target = f not in task.text_fields and isinstance(value, (int, float)) and not isinstance(value, bool)
            if not isinstance(value, str) and not number_target:  # a target may be a number (math answers)
                raise DataError(f"{at}: field {f!r} must be text, got {type(value).__name__} {value!r}")
            if empty is None and is_blank(str(value)):
                empty = f
        if empty is not None:
            if on_empty == "error":
                raise DataError(f"{at}: field {empty!r} is empty (only whitespace)")
            skipped.append(number)
            continue
        label, target = -1, ""
        if own_target:
            target = task.render_target(row)
        elif not task.is_generation:
            try:
                label = task.label_index(row[task.label_field])
            except ValueError as err:
                raise DataError(f"{at}: field {task.label_field!r}: label {err}") from None
        if task.id_field:
            raw_id = row[task.id_field]
            if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
                raise DataError(f"{at}: field {task.id_field!r} (id) is empty")
            raw_id = str(raw_id).strip()
            if raw_id in seen_ids:
                raise DataError(
                    f"{at}: field {task.id_field!r}: duplicate id {raw_id!r} "
                    f"(first at {unit} {seen_ids[raw_id]})"
                )
            seen_ids[raw_id] = number
        else:
            raw_id = str(number)
        examples.append(
            Example(id=f"{task.name}/{lang}/{split}/{raw_id}", text=task.render(row), label=label, lang=lang,
                    target=target)
        )
    if skipped:
        shown = ", ".join(str(n) for n in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        msg = (
            f"{where}: skipped {len(skipped)} row(s) with empty text{' or target' if own_target else ''} ({unit}s {shown}); "
            f"kept {len(examples)}"
        )
        log.warning(msg)
        warnings.warn(msg, SkippedRowsWarning, stacklevel=3)
    return examples
