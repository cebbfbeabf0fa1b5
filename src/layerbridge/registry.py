"""What the three registries (fusions, projectors, injections) share: an options config
that round-trips through JSON and names the option a user got wrong, and one way to register a
(config dataclass, module class) pair under the config's name, as PEFT's tuners are found."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

from layerbridge.errors import ConfigError


def unknown_fields(cls, values: dict[str, Any]) -> list[str]:
    """The keys of `values` that are not fields of the dataclass `cls`, sorted."""
    return sorted(set(values) - {f.name for f in dataclasses.fields(cls)})


@dataclass
class OptionsConfig:
    """Base of a method's options: a plain dataclass; `kind` and `name` say whose they are."""

    kind: ClassVar[str] = "method"  # "fusion", "injection", "projector"
    name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "OptionsConfig":
        unknown = unknown_fields(cls, values)
        if unknown:
            known = sorted(f.name for f in dataclasses.fields(cls))
            raise ConfigError(f"{cls.kind} '{cls.name}' has no option(s) {unknown}; known options: {known}")
        return cls(**values)


def register(table: dict[str, tuple[type, type]], config_cls: type, module_cls: type, *, config_base: type,
             module_base: type, replace: bool = False) -> None:
    """table[config_cls.name] = (config_cls, module_cls), after checking both classes."""
    kind = config_base.kind
    name = getattr(config_cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{getattr(config_cls, '__name__', config_cls)} needs a class attribute `name` "
                          f"(the {kind}'s registry name)")
    if not (isinstance(config_cls, type) and issubclass(config_cls, config_base)):
        raise ConfigError(f"{kind} {name!r}: {config_cls!r} is not a {config_base.__name__} subclass")
    if not (isinstance(module_cls, type) and issubclass(module_cls, module_base)):
        raise ConfigError(f"{kind} {name!r}: {module_cls!r} is not a {module_base.__name__} subclass")
    if name in table and not replace:
        raise ConfigError(f"a {kind} named {name!r} is already registered (pass replace=True to override it)")
    table[name] = (config_cls, module_cls)


def options_of(table: dict[str, tuple[type, type]], kind: str, name: str, options: dict[str, Any] | None):
    """The validated config of `name` in `table` with `options` over its defaults."""
    if name not in table:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(table)}")
    return table[name][0].from_dict(dict(options or {}))


@contextmanager
def restored(table: dict) -> Iterator[dict]:
    """Undo, at the end of the block, what was registered into `table` inside it (a fusion that
    exists only for one benchmark, a test's): the table holds again what it held before, in the
    same order, and stays the same dict object (modules keep references to it)."""
    before = dict(table)
    try:
        yield table
    finally:
        table.clear()
        table.update(before)
