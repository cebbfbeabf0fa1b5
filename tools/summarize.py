"""Tables from `layerbridge compare` outputs (compare.json), averaged over seeds.

    python -m tools.summarize results/fusion-study/sib200-seed0 results/fusion-study/sib200-seed1

Prints Markdown: the headline (average and low-resource average per run, mean ± spread over seeds,
with the English dev accuracy used for selection) and the per-language table.
"""

from __future__ import annotations

import sys

from tools import seeds


def main(folders: list[str]) -> None:
    docs = seeds.load(folders)
    low = docs[0]["low_resource"]
    print(seeds.setup_line(docs) + "\n")
    print("\n".join(seeds.headline(docs)))
    if low:
        print(f"\nLow-resource languages ({len(low)}): {', '.join(low)}")
    print("\n" + "\n".join(seeds.per_language(docs)))


if __name__ == "__main__":
    main(sys.argv[1:])
