"""Name resolution: a model name (built-in, local folder, .gguf file or hub id) -> what
``from_pretrained`` can load. Built-ins and GGUF files are converted once into the cache here."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layerbridge.errors import ModelSourceError
from layerbridge.sources.builtin import BUILTIN_MODELS, ensure_builtin
from layerbridge.sources.cache import ensure_folder, models_dir

Kind = Literal["builtin", "folder", "gguf", "hub"]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model name points.

    ``path`` is what to give ``from_pretrained``: a local folder (for built-ins and GGUF files:
    the converted cache folder) or a hub id.  ``gguf_file`` is only set for kind ``"gguf"`` and
    records the *source* GGUF file the cache folder was converted from (``path`` already holds
    the converted copy; no ``gguf_file=`` argument is needed to load it).
    """

    path: str
    gguf_file: str | None
    kind: Kind
    name: str


_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9_.-]{1,96})?")


def _looks_like_path(s: str) -> bool:
    return (
        s.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or "\\" in s
        or s.count("/") > 1
        or s.lower().endswith(".gguf")
        or s in (".", "..")
    )


def builtin_list() -> str:
    return ", ".join(BUILTIN_MODELS)


def resolve_model(name: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """Resolve a model name (built-in, folder, .gguf file or hub id); converts built-ins/GGUF once."""
    s = os.fspath(name) if isinstance(name, os.PathLike) else name
    if not isinstance(s, str) or not s.strip():
        raise ModelSourceError(f"empty or invalid model name {name!r}; built-in models: {builtin_list()}")
    s = s.strip()
    if s.lower() in BUILTIN_MODELS:  # built-in names win over a same-named folder: write ./name for that
        s = s.lower()
        return ResolvedModel(str(ensure_builtin(s, cache_dir)), None, "builtin", s)

    p = Path(s).expanduser()
    if p.exists():
        if p.is_dir():
            if (p / "config.json").is_file():
                return ResolvedModel(str(p.resolve()), None, "folder", s)
            ggufs = sorted(p.glob("*.gguf"))
            if len(ggufs) == 1:
                return _resolve_gguf(ggufs[0], s, cache_dir)
            hint = f" and {len(ggufs)} .gguf files (name one of them)" if ggufs else ""
            raise ModelSourceError(
                f"model folder {p} has no config.json{hint}; a model folder must be a Hugging Face "
                f"checkpoint folder (config.json + weights)"
            )
        from layerbridge.sources.gguf import is_gguf_file

        if is_gguf_file(p):
            return _resolve_gguf(p, s, cache_dir)
        raise ModelSourceError(
            f"model file {p} is not a .gguf file; give a model folder (with config.json), a .gguf file, "
            f"a built-in name ({builtin_list()}) or a hub id"
        )
    if _looks_like_path(s) or not _HUB_ID.fullmatch(s):
        close = difflib.get_close_matches(s, list(BUILTIN_MODELS), n=1)
        hint = f" Did you mean the built-in {close[0]!r}?" if close else ""
        raise ModelSourceError(
            f"model {s!r}: no such file or folder, and not a valid hub id.{hint} "
            f"Built-in models: {builtin_list()}"
        )
    return ResolvedModel(s, None, "hub", s)


def _resolve_gguf(path: Path, name: str, cache_dir) -> ResolvedModel:
    from layerbridge.sources.gguf import convert_gguf, gguf_cache_key, gguf_folder_name

    path = path.resolve()
    folder = models_dir(cache_dir) / gguf_folder_name(path)
    ensure_folder(
        folder,
        lambda out: convert_gguf(path, out),
        gguf_cache_key(path) | {"converter_version": 1},
        what=str(path),
        announce=f"layerbridge: converting {path.name} to safetensors (once) ...",
    )
    return ResolvedModel(str(folder), str(path), "gguf", name)
