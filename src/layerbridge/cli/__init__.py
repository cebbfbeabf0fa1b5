"""Command-line interface: `layerbridge <command>`; one module per command."""
