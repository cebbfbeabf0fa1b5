"""The on-disk cache of converted models.

Converting a built-in model (or a GGUF file) takes seconds to tens of seconds, so it is done
once and the result is kept as an ordinary Hugging Face folder under
``<cache_root>/models/<name>/``.  Three properties matter more than speed:

* **atomic**: a folder is built under a temporary name next to its final place and moved in
  with ``os.replace``; a crash mid-conversion never leaves a half-written folder in place;
* **verifiable**: a marker ``layerbridge-cache.json`` is written *last* with each file's size
  and sha256 and the source it came from; a folder without a marker, with a missing file or
  a file of the wrong size, or from another source, is rebuilt (sizes only on every load,
  so a cache hit costs no hashing; :func:`verify_folder` with ``deep=True`` checks hashes);
* **safe under concurrency**: a file lock per model means two processes (e.g. two ranks of
  ``accelerate launch``) never convert the same model at the same time; the second waits
  and then finds the finished folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from layerbridge.errors import ModelSourceError

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "LAYERBRIDGE_CACHE_DIR"
MARKER_NAME = "layerbridge-cache.json"
MARKER_FORMAT = 1


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: the argument, else ``$LAYERBRIDGE_CACHE_DIR``, else the user cache dir."""
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("layerbridge"))


def models_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    return cache_root(cache_dir) / "models"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER_NAME)


def write_marker(folder: Path, source: dict[str, Any], details: dict[str, Any] | None = None) -> None:
    """Record every file's size and sha256 plus the source; call after all files are written.

    ``source`` identifies what the folder was built from and is compared on every load;
    ``details`` (e.g. a content hash computed during the build) is informational only.
    """
    files = {
        p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in _data_files(folder)
    }
    marker = {
        "format": MARKER_FORMAT,
        "source": source,
        "details": details or {},
        "files": files,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = folder / (MARKER_NAME + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER_NAME)


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def verify_folder(folder: Path, source: dict[str, Any] | None = None, *, deep: bool = False) -> str | None:
    """Why ``folder`` is not a usable cache entry, or None when it is.

    Checks the marker, the recorded source (when given), presence and size of every file,
    and with ``deep=True`` also each file's sha256.
    """
    if not folder.is_dir():
        return "not built yet"
    marker = read_marker(folder)
    if marker is None or marker.get("format") != MARKER_FORMAT or not isinstance(marker.get("files"), dict):
        return f"marker {MARKER_NAME} missing or unreadable (interrupted conversion?)"
    if source is not None and marker.get("source") != source:
        return f"built from {marker.get('source')!r}, expected {source!r}"
    for rel, info in marker["files"].items():
        p = folder / rel
        if not p.is_file():
            return f"file {rel} missing"
        size = p.stat().st_size
        if size != info.get("size"):
            return f"file {rel} has {size} bytes, expected {info.get('size')}"
        if deep and sha256_file(p) != info.get("sha256"):
            return f"file {rel} has the wrong sha256"
    return None


def invalidate(folder: Path) -> None:
    """Mark a cache folder as stale (next access rebuilds it)."""
    with contextlib.suppress(FileNotFoundError):
        (folder / MARKER_NAME).unlink()


@contextlib.contextmanager
def model_lock(folder: Path, *, what: str) -> Iterator[None]:
    """Hold an inter-process lock for one cache entry; say so when we have to wait."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder.parent / f".{folder.name}.lock"))
    try:
        lock.acquire(timeout=1)
    except Timeout:
        log.warning("layerbridge: waiting for another process that is converting %s ...", what)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def build_atomic(
    folder: Path, build: Callable[[Path], dict[str, Any] | None], source: dict[str, Any]
) -> None:
    """Run ``build(tmp)`` into a temporary sibling folder, write the marker, move it into place.

    ``build`` may return a dict of details to record in the marker.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        details = build(tmp)
        write_marker(tmp, source, details)
        old = None
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_folder(
    folder: Path,
    build: Callable[[Path], dict[str, Any] | None],
    source: dict[str, Any],
    *,
    what: str,
    announce: str,
    force: bool = False,
) -> Path:
    """Return ``folder`` after making sure it holds a verified build of ``source``.

    Cache hits are silent; a (re)build prints ``announce`` (and the reason for a rebuild) via
    logging and stderr so the user knows why the first call is slow.
    """
    if not force and verify_folder(folder, source) is None:
        return folder
    with model_lock(folder, what=what):
        reason = "forced" if force else verify_folder(folder, source)
        if reason is None:  # another process finished it while we waited
            return folder
        if folder.exists():
            say(f"layerbridge: cache for {what} at {folder} is unusable ({reason}); rebuilding")
        say(announce)
        t0 = time.perf_counter()
        try:
            build_atomic(folder, build, source)
        except ModelSourceError:
            raise
        except Exception as e:  # conversion bugs or disk problems: name the model
            raise ModelSourceError(f"converting {what} into {folder} failed: {type(e).__name__}: {e}") from e
        say(f"layerbridge: {what} ready in {time.perf_counter() - t0:.1f} s ({folder})")
    return folder


def say(msg: str) -> None:
    """Progress for a slow one-off step.  WARNING level so it shows without any logging setup
    (Python's last-resort handler prints it to stderr)."""
    log.warning(msg)
