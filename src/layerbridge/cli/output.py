"""Terminal output: one rich Console that keeps tables whole when stdout is a pipe or a file."""

from __future__ import annotations

import shutil

from rich.console import Console


def console() -> Console:
    # Without a terminal rich assumes 80 columns and truncates model names; use a wide page instead.
    return Console(width=shutil.get_terminal_size((160, 40)).columns, soft_wrap=False)
