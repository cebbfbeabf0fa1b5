"""PNG plots for reports (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from layerbridge.io import atomic_path  # noqa: E402


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def accuracy_per_language(table: dict[str, dict[str, float]], languages: list[str], path: Path,
                          low_resource: set[str] = frozenset(), title: str = "", metric: str = "accuracy (%)",
                          scale: float = 100) -> Path:
    """Grouped bars: table[row][lang] = score (accuracy 0..1 times `scale`); one bar group per language."""
    rows = list(table)
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(languages) * max(1, len(rows)) / 2 + 3), 4))
    for i, row in enumerate(rows):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(languages))]
        ax.bar(xs, [scale * table[row].get(lang, float("nan")) for lang in languages], width, label=row)
    ax.set_xticks(range(len(languages)))
    ax.set_xticklabels([f"{lang}*" if lang in low_resource else lang for lang in languages], rotation=60, ha="right")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 100)
    ax.set_title(title + ("  (* low-resource)" if low_resource else ""))
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def layer_weight_heatmap(weights: dict[str, list[float]], layers: list[int], path: Path, title: str = "") -> Path:
    """weights[lang] = average layer weight per fused layer (over real tokens)."""
    langs = list(weights)
    fig, ax = plt.subplots(figsize=(0.5 * len(layers) + 3, 0.3 * len(langs) + 1.5))
    image = ax.imshow([weights[lang] for lang in langs], aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([str(layer) for layer in layers])
    ax.set_yticks(range(len(langs)))
    ax.set_yticklabels(langs)
    ax.set_xlabel("encoder layer (0 = embeddings)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="mean weight")
    return _save(fig, path)


def global_weights(history: list[tuple[int, list[float]]], layers: list[int], path: Path, title: str = "") -> Path:
    """Left: the learned global-softmax weights at the end; right: their course over steps."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    steps, values = zip(*history)
    left.bar([str(layer) for layer in layers], values[-1])
    left.set_xlabel("encoder layer")
    left.set_ylabel("weight")
    left.set_title("final weights")
    for i, layer in enumerate(layers):
        right.plot(steps, [v[i] for v in values], label=str(layer))
    right.set_xlabel("step")
    right.set_title("during training")
    right.legend(fontsize=6, ncol=2, title="layer", title_fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)
