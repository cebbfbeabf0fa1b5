"""Bridges to the field's other tools (the evaluation harness); each module imports its tool lazily."""
