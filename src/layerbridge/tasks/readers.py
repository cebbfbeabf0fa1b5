"""Reading data files (JSON Lines, CSV, TSV) into (line number, row dict) records.

Strict: the file must be UTF-8 (a BOM is allowed); undecodable bytes, malformed JSON, a row that
is not a JSON object, or a CSV/TSV row whose cell count differs from the header raise DataError
naming the file and the 1-based line. Blank lines in JSON Lines files are ignored.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterator

from layerbridge.errors import DataError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv"}


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported data file type {path.suffix!r} (use .jsonl, .csv or .tsv)")
    return fmt


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        bad = raw[err.start : err.end].hex(" ")
        raise DataError(
            f"{path}:{line}: undecodable bytes (not UTF-8) at byte {col} of the line: {bad}; "
            f"re-save the file as UTF-8"
        ) from None


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line number where the row starts, row) for every data row of a file."""
    fmt = file_format(path)
    text = read_text(path)
    if fmt == "jsonl":
        yield from _jsonl(path, text)
    else:
        yield from _delimited(path, text, "," if fmt == "csv" else "\t")


def _jsonl(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # split on "\n" only: str.splitlines() would also split inside strings holding U+2028 etc.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: invalid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object per line, got {type(row).__name__}")
        yield number, row


def _delimited(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as err:
        raise DataError(f"{path}:1: malformed header ({err})") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or any(not h for h in header):
        raise DataError(f"{path}:1: header has empty or repeated column names: {header}")
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataError(f"{path}:{start}: malformed row ({err})") from None
        if not cells or (len(cells) == 1 and not cells[0].strip() and len(header) > 1):
            start = reader.line_num + 1
            continue
        if len(cells) != len(header):
            raise DataError(
                f"{path}:{start}: {len(cells)} cells but the header has {len(header)} columns {header}"
            )
        yield start, dict(zip(header, cells))
        start = reader.line_num + 1


def header_columns(path: Path) -> list[str] | None:
    """Column names of a file (CSV/TSV header, keys of the first JSON row); None if empty."""
    for _, row in iter_records(path):
        return list(row)
    return None


def count_rows(path: Path) -> int:
    return sum(1 for _ in iter_records(path))
