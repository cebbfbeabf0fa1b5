"""Speed benchmark of layerbridge: `python benchmarks/run.py` (see run.py and docs/benchmarks.md)."""
