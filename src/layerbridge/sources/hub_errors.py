"""Loading errors worth a clear message: an unreachable hub is told apart from a broken model,
and the message suggests what works offline (a local folder, a .gguf file, a built-in)."""

from __future__ import annotations

import difflib

from layerbridge.errors import ModelSourceError
from layerbridge.sources.builtin import BUILTIN_MODELS
from layerbridge.sources.resolve import ResolvedModel, builtin_list


def is_hub_unreachable(e: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        if isinstance(x, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError)):
            return True
        if type(x).__name__ in ("ConnectError", "ConnectTimeout", "ConnectionError", "ReadTimeout"):
            return True
        msg = str(x).lower()
        if "couldn't connect" in msg or "offline mode" in msg:
            return True
        x = x.__cause__ or x.__context__
    return False


def load_error(r: ResolvedModel, what: str, e: BaseException) -> ModelSourceError:
    if r.kind == "hub" and is_hub_unreachable(e):
        close = difflib.get_close_matches(r.name, list(BUILTIN_MODELS), n=1)
        hint = f" (did you mean the built-in {close[0]!r}?)" if close else ""
        return ModelSourceError(
            f"cannot load {what} {r.name!r}: the Hugging Face hub is unreachable (offline, or no network) "
            f"and it is not in the local hub cache{hint}. Use a local model folder, a .gguf file, or a "
            f"built-in model that works offline: {builtin_list()}"
        )
    where = r.name if r.path == r.name else f"{r.name} ({r.path})"
    return ModelSourceError(f"cannot load {what} {where}: {type(e).__name__}: {e}")
