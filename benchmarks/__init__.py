"""Speed benchmark of layerbridge: `python -m benchmarks.run` (see run.py and docs/benchmarks.md)."""
