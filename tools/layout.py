"""Print the package's layout: one line per module, its job (the first line of its docstring).

    python -m tools.layout            # src/layerbridge
    python -m tools.layout studies    # any folder of Python modules
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

WIDTH = 110  # characters of a module's job on its line


def job(path: Path) -> str:
    """The first sentence of a module's docstring ('' without one)."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    end = paragraph.find(". ")
    sentence = paragraph if end < 0 else paragraph[: end + 1]
    return sentence if len(sentence) <= WIDTH else sentence[: WIDTH - 3].rstrip() + "..."


def tree(root: Path, indent: str = "") -> list[str]:
    lines = []
    for path in sorted(root.iterdir(), key=lambda p: (p.is_dir(), p.name)):
        if path.is_dir() and (path / "__init__.py").is_file():
            lines.append(f"{indent}{path.name}/  {job(path / '__init__.py')}")
            lines += tree(path, indent + "    ")
        elif path.suffix == ".py" and path.name != "__init__.py":
            lines.append(f"{indent}{path.name}  {job(path)}")
    return lines


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "src" / "layerbridge"
    print("\n".join([f"{root.name}/"] + tree(root, "    ")))


if __name__ == "__main__":
    main(sys.argv[1:])
