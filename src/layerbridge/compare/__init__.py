"""`compare`: train and evaluate several bridges with the same seed, data and budget, then write one
report. The recipe reads top to bottom in `recipe.py`."""

from layerbridge.compare.config import CompareConfig
from layerbridge.compare.recipe import compare
from layerbridge.compare.references import REFERENCES

__all__ = ["CompareConfig", "REFERENCES", "compare"]
