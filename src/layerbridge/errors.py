"""Exceptions for problems in the user's input; the CLI prints them as one clear line."""


class LayerbridgeError(Exception):
    """Base class: a problem the user can fix (bad option, file, data row, model name)."""


class ConfigError(LayerbridgeError):
    """A bridge/fusion/task configuration that is invalid or does not fit the models."""


class ModelSourceError(LayerbridgeError):
    """A model name that cannot be resolved, fetched, converted or loaded."""


class DataError(LayerbridgeError):
    """Bad or missing data: names the file, line and field at fault."""
