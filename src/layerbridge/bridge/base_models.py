"""Which exact weights a bridge was trained on, so it never silently binds to other ones.

A bridge's weights only make sense on the frozen encoder and LLM it was trained with. Each is
identified by a fingerprint, recorded in bridge_config.json and checked whenever the bridge is
loaded: `hub:<commit sha>` for a model downloaded from the Hub (transformers records the commit),
`builtin:<sha256>` for a built-in (the sha256 of the weight file its cache was converted from),
`sha256:<hex>` over the weight files of any other local folder. A model built in memory has none
(no check). Different weights warn, or raise with `strict=True`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import warnings
from pathlib import Path

from layerbridge.errors import ConfigError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


@functools.lru_cache(maxsize=32)
def _folder_sha256(folder: str, stamp: tuple) -> str:
    """sha256 over a folder's weight files (names and bytes); `stamp` (sizes, mtimes) keys the cache."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file()):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def fingerprint(model) -> str | None:
    """The identity of a loaded model's weights (module docstring), or None when unknown."""
    commit = getattr(model.config, "_commit_hash", None)
    if commit:
        return f"hub:{commit}"
    folder = Path(getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "") or "")
    if not str(folder) or not folder.is_dir():
        return None
    return folder_fingerprint(folder)


def folder_fingerprint(folder: Path) -> str | None:
    """The identity of the weights in a local folder (module docstring). A cached copy held in
    another dtype (`sources.held_dtype`) records the identity of the weights it was cast from."""
    from layerbridge.sources.cache import read_marker

    marker = read_marker(folder)
    source = (marker or {}).get("source", {})
    if source.get("held_dtype") and source.get("from"):
        return source["from"]
    if source.get("member_sha256"):
        return f"builtin:{source.get('joined_sha256') or source['member_sha256']}"
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not files:
        return None
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return f"sha256:{_folder_sha256(str(folder.resolve()), stamp)}"


def model_dims(model) -> tuple[int, int]:
    """(number of transformer layers, hidden size) of an encoder or LLM, from its config."""
    config = model.config
    layers = getattr(config, "num_hidden_layers", None)
    layers = getattr(config, "num_layers", None) if layers is None else layers
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    if layers is None or not hidden:
        raise ConfigError(f"cannot read layer count / hidden size from {type(config).__name__}")
    return int(layers), int(hidden)


def checked_fingerprint(config, role: str, model, *, strict: bool) -> str | None:
    """The fingerprint the bridge records for `role`'s weights: the one the config already holds
    (compared with the loaded model's: other weights warn, or raise with `strict`), else the model's."""
    found = fingerprint(model)
    recorded = getattr(config, f"{role}_weights")
    if recorded is None:
        return found
    if found is not None and found != recorded:
        message = (f"the bridge was trained on {role} weights {recorded}, but {getattr(config, role)!r} loaded "
                   f"{found}: the bridge's weights are bound to other base weights and may give garbage")
        if strict:
            raise ConfigError(message)
        warnings.warn(message, stacklevel=4)
    return recorded


def filled_config(config, encoder, llm, *, strict: bool = False):
    """A copy of `config` with the loaded models' sizes and weight fingerprints filled in, after
    checking that the sizes and weights a saved config records are the ones loaded. The caller's
    config is never changed."""
    (enc_layers, enc_hidden), (_, llm_hidden) = model_dims(encoder), model_dims(llm)
    sizes = {"encoder_num_layers": enc_layers, "encoder_hidden_size": enc_hidden, "llm_hidden_size": llm_hidden}
    for name, found in sizes.items():
        expected = getattr(config, name)
        if expected is not None and expected != found:
            raise ConfigError(f"the bridge config says {name}={expected}, but the models loaded for "
                              f"encoder={config.encoder!r} / llm={config.llm!r} have {found}: "
                              "these are not the models this bridge was trained with")
    filled = copy.deepcopy(config)
    for name, value in sizes.items():
        setattr(filled, name, value)
    filled.encoder_weights = checked_fingerprint(config, "encoder", encoder, strict=strict)
    filled.llm_weights = checked_fingerprint(config, "llm", llm, strict=strict)
    return filled
