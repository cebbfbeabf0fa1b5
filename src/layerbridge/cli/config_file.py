"""`--config FILE`: a command's options from a YAML or JSON file (train, compare, evaluate, demo).

Done once, at the argparse level: before the command line is parsed, the file named by `--config` is
read and checked against the command's own options, and its values become that command's parser
defaults, so a flag on the command line still wins. A key is an option's long name, with or without
its dashes, `_` or `-` alike (`lr`, `--max-steps`, `max_steps`), or the name it is stored under
(`encoder_cache: false` for `--no-encoder-cache`); a KEY=VALUE option takes a dict
(`fusion-option: {init: last}`); a comma-list option takes a list.

A run's saved `train_config.json` is a config too: its TrainConfig field names (`learning_rate`) are
read as the options that set them (`--lr`, the command's OPTIMISATION table), its nested `bridge`
dict as the bridge flags (BridgeConfig's field metadata, as the flags themselves are made), and the
fields no flag sets (betas, eps, log_every) are accepted at the value the command line gives them and
refused otherwise. The settings filled in from the models (MODEL_FILLED) and the stage-1 bridge a
run started from (init_from) are records, not choices (RECORDS): they are skipped and filled in again.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerbridge.bridge.config import RECORDS
from layerbridge.cli.options import bridge_fields, flag_dest
from layerbridge.errors import ConfigError

CONFIG_COMMANDS = ("train", "compare", "evaluate", "demo")
SKIPPED = {"help", "version", "config"}


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="read options from a YAML or JSON file (keys: the options' long names, e.g. lr, "
                             "max-steps; a run's train_config.json reruns it); flags on the command line win "
                             "(docs/configs.md)")


def norm(key: str) -> str:
    return str(key).lstrip("-").replace("_", "-")


@dataclass
class Target:
    """Where a config key goes: an option, and for a switch whether `true` means "stored False"."""

    action: argparse.Action
    flip: bool = False
    nullable: bool = False


def is_switch(action: argparse.Action) -> bool:
    return action.nargs == 0 and (isinstance(action.const, bool) or isinstance(action, argparse.BooleanOptionalAction))


def flips(action: argparse.Action, option: str) -> bool:
    """Whether `option: true` stores False: a store_false flag, or the --no- half of a --X/--no-X pair."""
    return isinstance(action, argparse._StoreFalseAction) or (
        isinstance(action, argparse.BooleanOptionalAction) and option.startswith("--no-"))


def command_keys(parser: argparse.ArgumentParser) -> dict[str, Target]:
    """Config key (normalised) -> option, for every option of `parser`: its long names ("given" sense),
    its dest (stored sense), the BridgeConfig fields of its bridge flags, and, for a training command, the
    TrainConfig fields of its optimisation options."""
    keys: dict[str, Target] = {}
    actions = [a for a in parser._actions if a.dest not in SKIPPED and a.dest != argparse.SUPPRESS]
    for action in actions:
        for option in action.option_strings:
            if option.startswith("--"):
                keys[norm(option)] = Target(action, flip=flips(action, option))
    by_dest = {a.dest: a for a in actions}
    for dest, action in by_dest.items():
        keys.setdefault(norm(dest), Target(action))
    for f in bridge_fields():  # freeze_encoder: true is --unfreeze-encoder not given
        if flag_dest(f) in by_dest:
            keys.setdefault(norm(f.name), Target(by_dest[flag_dest(f)], flip=f.default is True))
    for field_name, dest in train_field_options(by_dest).items():
        target = keys.setdefault(norm(field_name), Target(by_dest[dest]))
        target.nullable = field_nullable(field_name)
    return keys


def train_field_options(by_dest: dict[str, argparse.Action]) -> dict[str, str]:
    """TrainConfig field -> the option's dest that sets it, for a command with the training options."""
    from layerbridge.cli.train_cmd import OPTIMISATION
    from layerbridge.training.config import TrainConfig

    if not all(dest in by_dest for dest in OPTIMISATION):
        return {}
    fields = {f.name: OPTIMISATION.get(f.name, f.name) for f in dataclasses.fields(TrainConfig)}
    fields.update({field_name: dest for dest, field_name in OPTIMISATION.items()})
    return {name: dest for name, dest in fields.items() if dest in by_dest}


def field_nullable(name: str) -> bool:
    from layerbridge.training.config import TrainConfig

    return any(f.name == name and "None" in str(f.type) for f in dataclasses.fields(TrainConfig))


def fixed_settings(parser: argparse.ArgumentParser, keys: dict[str, Target]) -> dict[str, Any]:
    """The settings a training command's file may name but no flag sets: TrainConfig fields without an
    option (their one value: the default) and the bridge's RECORDS (None: skipped)."""
    from layerbridge.training.config import TrainConfig

    by_dest = {a.dest for a in parser._actions}
    fixed: dict[str, Any] = {}
    if train_field_options({d: None for d in by_dest}):
        for f in dataclasses.fields(TrainConfig):
            if norm(f.name) not in keys and f.name != "bridge":
                default = f.default_factory() if f.default is dataclasses.MISSING else f.default
                fixed[norm(f.name)] = json.loads(json.dumps(default))
    if any(flag_dest(f) in by_dest for f in bridge_fields()):
        fixed.update({norm(name): None for name in RECORDS})
    return fixed


def load_config_file(path: Path) -> dict[str, Any]:
    """The file's mapping: JSON for a .json file, else YAML (which reads JSON too)."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        values = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"--config {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({err})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"--config {path}: expected a mapping of option: value, got a {type(values).__name__}")
    return values


# Decoding fields whose option differs: (key, value) as the option takes it
DECODING_OPTIONS = {
    "do_sample": lambda v: ("generation.sample", v),
    "stop_after_text": lambda v: ("generation.stop_before_text", v if not isinstance(v, bool) else not v),
}


def flat_items(values: dict[str, Any], keys: dict[str, Target]) -> list[tuple[str, Any]]:
    """(key as written, value); a nested `bridge:` dict (a saved train_config.json's) is read as its
    settings, named `bridge.KEY`, where `bridge` is not itself an option; a nested `generation:` dict
    (its decoding settings, layerbridge.decoding.Decoding fields) as the decoding options."""
    items = []
    for key, value in values.items():
        if norm(key) == "bridge" and isinstance(value, dict) and "bridge" not in keys:
            items += [(f"bridge.{inner}", inner_value) for inner, inner_value in value.items()]
        elif norm(key) == "generation" and isinstance(value, dict) and "num-beams" in keys:
            items += [DECODING_OPTIONS.get(inner, lambda v, k=inner: (f"generation.{k}", v))(inner_value)
                      for inner, inner_value in value.items()]
        else:
            items.append((str(key), value))
    return items


def unknown_key(key: str, where: str, command: str, keys: dict[str, Target]) -> ConfigError:
    name = norm(key.rpartition(".")[2])
    close = difflib.get_close_matches(name, sorted(keys), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; `layerbridge {command} --help` lists the options"
    return ConfigError(f"{where}: unknown option {key!r} for `layerbridge {command}`{hint}")


def config_defaults(parser: argparse.ArgumentParser, values: dict[str, Any], source: str,
                    command: str) -> dict[argparse.Action, Any]:
    """The options `values` set (action -> the value argparse would store), checked."""
    keys = command_keys(parser)
    fixed = fixed_settings(parser, keys)
    chosen: dict[argparse.Action, Any] = {}
    named: dict[argparse.Action, str] = {}
    for key, value in flat_items(values, keys):
        where = f"{key!r} in {source}"
        name = norm(key.rpartition(".")[2])
        if key.startswith("bridge.") and key[len("bridge."):] in RECORDS:
            continue  # a saved run's record (bridge.init_from beside the init_from option), filled in again
        if key.startswith("generation."):
            check_decoding_key(key, name, decoding_keys(parser, keys), source, command)
        if name not in keys and name in fixed:
            check_fixed(key, value, fixed[name], source, command)
            continue
        if name not in keys:
            raise unknown_key(key, source, command, keys)
        target = keys[name]
        if target.action in chosen:
            raise ConfigError(f"{source}: {named[target.action]!r} and {key!r} set the same option; keep one")
        chosen[target.action], named[target.action] = stored_value(target, value, where), key
    return chosen


def decoding_keys(parser: argparse.ArgumentParser, keys: dict[str, Target]) -> dict[str, Target]:
    """The keys of the decoding options (add_decoding_options' group): all a `generation:` block may set."""
    group = [g for g in parser._action_groups if str(g.title).startswith("decoding")]
    actions = {id(a) for g in group for a in g._group_actions}
    return {key: target for key, target in keys.items() if id(target.action) in actions}


def check_decoding_key(key: str, name: str, decoding: dict[str, Target], source: str, command: str) -> None:
    """A `generation:` block's key names a decoding option, or is refused: `generation.seed` is not the
    training `seed` (no flag sets a decoding seed; decoding is seeded by the command's --seed)."""
    if name in decoding:
        return
    options = ", ".join(sorted({t.action.option_strings[0].lstrip("-") for t in decoding.values()}))
    close = difflib.get_close_matches(name, sorted(decoding), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    seed = " (no option sets a decoding seed; a top-level `seed` is the command's --seed)" if name == "seed" else ""
    raise ConfigError(f"{key!r} in {source}: not a decoding option of `layerbridge {command}`; a `generation:` "
                      f"block takes only the decoding options ({options}){seed}{hint}")


def check_fixed(key: str, value: Any, fixed: Any, source: str, command: str) -> None:
    if fixed is None or value == fixed:  # a model record (filled in again), or the one value the command gives
        return
    raise ConfigError(f"{key!r} in {source}: {key}={value!r} cannot be set from the command line of `layerbridge "
                      f"{command}` (it always trains with {fixed!r}); drop it, or use the Python API (TrainConfig)")


def stored_value(target: Target, value: Any, where: str) -> Any:
    """`value` as the option's parser would have stored it from the command line, or a clear error."""
    action = target.action
    if is_switch(action):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value != target.flip
    if isinstance(action, argparse._AppendAction):
        return appended_items(action, value, where)
    if value is None:
        if action.default is None or target.nullable:
            return None
        raise ConfigError(f"{where}: expected a value, got null")
    stored = scalar_value(action, value, where)
    if action.choices is not None and stored not in action.choices:
        raise ConfigError(f"{where}: {stored!r} is not one of {', '.join(map(str, action.choices))}")
    return stored


def scalar_value(action: argparse.Action, value: Any, where: str) -> Any:
    kind = action.type or str
    name = getattr(kind, "__name__", "value")
    if isinstance(value, (bool, dict)) or (isinstance(value, list) and kind is not str):
        raise ConfigError(f"{where}: expected {'a number' if kind in (int, float) else 'a ' + name}, got {value!r}")
    if isinstance(value, list):  # a comma-list option
        if not value or any(isinstance(v, (bool, dict, list)) or v is None for v in value):
            raise ConfigError(f"{where}: expected a list of plain values, got {value!r}")
        return ",".join(map(str, value))
    if kind is int and isinstance(value, float):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    try:
        return kind(value) if kind in (int, float, str) or isinstance(value, str) else value
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: expected {'a number' if kind in (int, float) else name}, got {value!r} ({err})") from None


def appended_items(action: argparse.Action, value: Any, where: str) -> list[str]:
    """A repeatable option's items: a dict for a KEY=VALUE one (nested dicts as dotted keys, e.g.
    compare's `fusion-option: {token_softmax: {init: last}}`), a list, or one item."""
    if isinstance(value, dict):
        if "KEY=VALUE" not in str(action.metavar):
            raise ConfigError(f"{where}: expected a list, got a mapping")
        return [f"{key}={item if isinstance(item, str) else json.dumps(item)}"
                for key, item in dotted(value, where)]
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, (dict, list, bool)) or item is None for item in items):
        raise ConfigError(f"{where}: expected {'a mapping or ' if 'KEY=VALUE' in str(action.metavar) else ''}"
                          f"a list of plain values, got {value!r}")
    return [str(item) for item in items]


def dotted(values: dict, where: str, prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in values.items():
        if isinstance(value, dict):
            items += dotted(value, where, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str, argparse.ArgumentParser] | None:
    """The sub-command argv names and its parser, when it is one of CONFIG_COMMANDS."""
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    name = next((arg for arg in argv if not arg.startswith("-")), None)
    return (name, commands[name]) if name in CONFIG_COMMANDS else None


def apply_config_file(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """Set the options of the file `--config` names in argv as its command's defaults (the command line,
    parsed next, overrides them). Returns the command, or None when argv gives no config."""
    found = command_parser(parser, argv)
    if found is None:
        return None
    command, sub = found
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", default=None)
    given, _ = pre.parse_known_args(argv[argv.index(command) + 1:])
    if not given.config:
        return None
    path = Path(given.config)
    for action, value in config_defaults(sub, load_config_file(path), str(path), command).items():
        action.required = False  # given by the file (an --output-dir, evaluate's bridge folder)
        if not action.option_strings:
            action.nargs = "?"
        if isinstance(action, argparse._AppendAction) and "KEY=VALUE" not in str(action.metavar):
            action.__class__, value = ReplacedAppend, FileItems(value)  # a flag given replaces the file's list
        action.default = value
        sub.set_defaults(**{action.dest: value})
    return command


class FileItems(list):
    """A repeatable option's items from the file: the option's default, until the command line gives it."""


class ReplacedAppend(argparse._AppendAction):
    """An `append` option whose items from a config file the first command-line item replaces (`--report-to
    none` over a file's `report-to: [tensorboard]`, `--stop .` over its stops) rather than adds to. A KEY=VALUE
    option keeps appending: the file's items, then the flags', the last one given for a key winning."""

    def __call__(self, parser, namespace, values, option_string=None):
        if isinstance(getattr(namespace, self.dest, None), FileItems):
            setattr(namespace, self.dest, None)
        super().__call__(parser, namespace, values, option_string)
