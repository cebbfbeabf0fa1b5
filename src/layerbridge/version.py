"""The package version, in a module of its own so that saving and the CLI read it without
importing the package's public faces (no import cycle through `layerbridge/__init__.py`)."""

__version__ = "0.1.0"
