"""Reporting: per-language tables (JSON, CSV, Markdown), plots, and the compare page."""
