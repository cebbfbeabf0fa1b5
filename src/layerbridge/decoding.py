"""How a bridge's outputs are decoded (`Decoding`), and the settings a bridge was tuned with, saved beside
it as `generation_config.json` (as transformers and PEFT keep a model's generation settings apart from
its config). Which settings apply, first to last: an explicit argument or flag, the bridge's saved
settings, today's defaults (`Decoding()`); a bridge saved without the file keeps the defaults."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from layerbridge.errors import ConfigError

GENERATION_CONFIG_NAME = "generation_config.json"


@dataclasses.dataclass
class Decoding:
    """How outputs are decoded: greedy by default; beam search with num_beams > 1; sampling with
    do_sample (temperature, top_p, seeded); repetition_penalty > 1 and no_repeat_ngram_size > 0 (no
    n-gram twice) against loops. Every row stops at EOS, at a stop string, or after max_new_tokens."""

    max_new_tokens: int = 128
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ("\n",)
    seed: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    stop_after_text: bool = True  # a stop string ends a row only after its first non-whitespace text

    def __post_init__(self):
        self.stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if (self.max_new_tokens < 1 or self.num_beams < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1
                or self.repetition_penalty <= 0 or self.no_repeat_ngram_size < 0):
            raise ConfigError(f"invalid decoding settings {self}")
        if self.do_sample and self.num_beams > 1:
            raise ConfigError("choose beam search (num_beams > 1) or sampling (do_sample), not both")
        if any(not s for s in self.stop):
            raise ConfigError("a stop string may not be empty")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (stop strings as a list)."""
        return {**dataclasses.asdict(self), "stop": list(self.stop)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "decoding settings") -> "Decoding":
        """Settings from a mapping; a key that is no setting is refused, naming `source`."""
        return cls().updated(values, source)

    def updated(self, values: dict[str, Any] | None, source: str = "decoding settings") -> "Decoding":
        """A copy with `values` (a mapping of setting -> value; None values are skipped) over these."""
        values = {k: v for k, v in (values or {}).items() if v is not None}
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown decoding setting(s) {unknown}; known: {', '.join(sorted(known))}")
        return dataclasses.replace(self, **values)

    def generate_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `LayerBridge.generate` that decode this way (one batch, seeded by `seed`)."""
        return {"max_new_tokens": self.max_new_tokens, "stop_at_newline": False, "stop_strings": list(self.stop),
                "num_beams": self.num_beams, "do_sample": self.do_sample, "temperature": self.temperature,
                "top_p": self.top_p, "seed": self.seed if self.do_sample else None,
                "repetition_penalty": self.repetition_penalty, "no_repeat_ngram_size": self.no_repeat_ngram_size,
                "stop_after_text": self.stop_after_text}


def save_generation_config(decoding: Decoding | None, folder: str | Path) -> None:
    """Write `decoding` as the folder's generation_config.json (None: remove a stale one)."""
    from layerbridge.io import atomic_write_text

    path = Path(folder) / GENERATION_CONFIG_NAME
    if decoding is None:
        path.unlink(missing_ok=True)
        return
    atomic_write_text(path, json.dumps(decoding.to_dict(), indent=2) + "\n")


def load_generation_config(folder: str | Path) -> Decoding | None:
    """The decoding settings saved with the bridge in `folder`; None for a bridge saved without them."""
    path = Path(folder) / GENERATION_CONFIG_NAME
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a readable JSON file ({err})") from err
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a JSON object of decoding settings")
    return Decoding.from_dict(values, str(path))


def decoding_for(bridge, decoding: Decoding | None = None, fallback: Decoding | None = None) -> Decoding:
    """How `bridge` decodes: `decoding` when given, else the settings it was saved with
    (generation_config.json), else `fallback`, else Decoding's defaults (greedy)."""
    return decoding or getattr(bridge, "generation_config", None) or fallback or Decoding()


def tuned_decoding(task: Any = None, given: dict[str, Any] | None = None) -> Decoding | None:
    """The settings a bridge trained on `task` is saved with: the task's own (`Task.decoding`, e.g.
    flores_en's chosen ones) with the ones `given` at training over them; None when neither says any."""
    own = dict(getattr(task, "decoding", None) or {})
    given = {k: v for k, v in (given or {}).items() if v is not None}
    if not own and not given:
        return None
    name = getattr(task, "name", "the task")
    return Decoding.from_dict(own, f"task {name}").updated(given, "the decoding settings given at training")
