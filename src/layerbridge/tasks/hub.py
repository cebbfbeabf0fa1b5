"""The Hugging Face Hub source: `datasets.load_dataset(path, config, split=...)`.

Reachability is checked first with one short request (3 s), so an offline machine gets a clear
error at once instead of minutes of retries. HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are honoured:
in offline mode only the local `datasets` cache is used.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Iterator

from layerbridge.errors import DataError

from .base import Task

log = logging.getLogger(__name__)

DOCS_HINT = "set --data-dir or LAYERBRIDGE_DATA_DIR to a local data folder (format: docs/tasks.md)"
_TRUE = {"1", "on", "yes", "true"}


def offline_mode() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


@functools.lru_cache(maxsize=1)
def _probe(timeout: float) -> bool:
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
        return True
    except Exception as err:  # any network failure means "not reachable now"
        log.info("hub not reachable: %s", err)
        return False


def hub_status(timeout: float = 3.0) -> str:
    """'reachable', 'unreachable' or 'offline' (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set)."""
    if offline_mode():
        return "offline"
    return "reachable" if _probe(timeout) else "unreachable"


def hub_name(task: Task, lang: str, split: str) -> str:
    spec = task.hub
    assert spec is not None
    config = spec.config_for(lang)
    return f"hub {spec.path}" + (f" [{config}]" if config else "") + f" split {spec.split_for(lang, split)}"


def hub_records(task: Task, lang: str, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based row number, row with the task's column names) for one hub split.

    Loads eagerly (so errors surface here), then iterates lazily over the dataset.
    """
    spec = task.hub
    if spec is None:
        raise DataError(f"task {task.name!r} has no hub source; {DOCS_HINT}")
    status = hub_status()
    where = hub_name(task, lang, split)
    if status == "unreachable":
        raise DataError(
            f"cannot load {where}: the hub is unreachable; {DOCS_HINT} "
            f"(or set HF_HUB_OFFLINE=1 to use a copy already in the datasets cache)"
        )
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise DataError(f"cannot load {where}: the 'datasets' package is missing ({err})") from None
    try:
        ds = datasets.load_dataset(spec.path, spec.config_for(lang), split=spec.split_for(lang, split))
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        hint = " (offline mode: it is not in the datasets cache)" if status == "offline" else ""
        raise DataError(f"cannot load {where}{hint}: {detail}; {DOCS_HINT}") from None
    rename = dict(spec.columns)
    return ((number, {rename.get(k, k): v for k, v in row.items()}) for number, row in enumerate(ds, start=1))
