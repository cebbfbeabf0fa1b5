"""Generated blocks in hand-written pages: everything between `<!-- generated: NAME -->` and
`<!-- end generated -->` is rewritten from the raw results, the prose around it stays."""

from __future__ import annotations

import re
from pathlib import Path

from layerbridge.io import atomic_write_text

BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n).*?(<!-- end generated -->)", re.DOTALL)


def block_names(text: str) -> list[str]:
    return [name for _, name, _ in BLOCK.findall(text)]


def fill_blocks(path: Path, blocks: dict[str, list[str]]) -> int:
    """Rewrite every generated block of `path` from `blocks` (name -> lines); a block the page has
    and `blocks` does not is an error naming both. Returns how many blocks were rewritten."""
    text = Path(path).read_text(encoding="utf-8")
    unknown = [name for name in block_names(text) if name not in blocks]
    if unknown:
        raise SystemExit(f"{path}: unknown generated block(s) {unknown}; known: {sorted(blocks)}")
    atomic_write_text(Path(path), BLOCK.sub(lambda m: m.group(1) + "\n".join(blocks[m.group(2)]) + "\n" + m.group(3), text))
    return len(block_names(text))
