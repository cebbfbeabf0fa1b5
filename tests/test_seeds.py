"""Multi-seed tables (tools/seeds.py): the numbers docs/results.md is built from."""

import json

import pytest

from layerbridge.errors import DataError
from tools import seeds


def compare_doc(seed: int, accuracy: dict[str, dict[str, float]], *, task="sib200", precision="no") -> dict:
    """A minimal compare.json: one run per key of `accuracy` (run -> language -> accuracy)."""
    languages = list(next(iter(accuracy.values())))
    return {
        "task": task, "languages": languages, "low_resource": languages[1:], "mode": "rank", "eval_limit": 50,
        "train_examples": 100, "dev_examples": 10,
        "train_config": {"seed": seed, "preset": "small-data", "learning_rate": 3e-3, "epochs": 2, "batch_size": 8},
        "runs": {name: {"fusion": name, "results": {lang: {"accuracy": a} for lang, a in acc.items()},
                        "train": {"dev_accuracy": 0.5 + seed / 10, "mixed_precision": precision},
                        "layers": [1, 2], "layer_weights": {lang: [0.25, 0.75] for lang in acc}}
                 for name, acc in accuracy.items()},
        "references": {},
    }


def write(tmp_path, name: str, doc: dict):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "compare.json").write_text(json.dumps(doc))
    return folder


def test_seed_mean_and_half_range_per_run(tmp_path):
    a = write(tmp_path, "s0", compare_doc(0, {"last": {"en": 0.8, "si": 0.4, "ta": 0.6}}))
    b = write(tmp_path, "s1", compare_doc(1, {"last": {"en": 0.6, "si": 0.6, "ta": 0.6}}))
    docs = seeds.load([a, b])
    avg, low = seeds.averages(docs, "last")
    assert avg == pytest.approx([0.6, 0.6]) and low == pytest.approx([0.5, 0.6])
    assert seeds.spread(low) == "55.0 ± 5.0"
    assert seeds.spread([None]) == "—" and seeds.spread([0.123]) == "12.3"
    row = next(line for line in seeds.headline(docs) if line.startswith("| last "))
    assert row == "| last | 55.0 ± 5.0 | 60.0 ± 0.0 | 55.0 ± 5.0 |"  # dev, average, low-resource
    en_row = next(line for line in seeds.per_language(docs) if line.startswith("| en "))
    assert en_row == "| en | 70.0 ± 10.0 |"


def test_setup_line_names_fp32_and_the_seeds(tmp_path):
    docs = seeds.load([write(tmp_path, "s0", compare_doc(3, {"last": {"en": 0.5, "si": 0.5}}, precision="no"))])
    line = seeds.setup_line(docs)
    assert "precision fp32" in line and "seeds [3]" in line


def test_layer_weight_lines_rank_layers_by_weight(tmp_path):
    docs = seeds.load([write(tmp_path, "s0", compare_doc(0, {"global_softmax": {"en": 0.5, "si": 0.5}}))])
    assert seeds.layer_weight_lines(docs) == ["- `global_softmax`: seed 0: layer 2 0.75, layer 1 0.25"]


def test_load_refuses_mixed_tasks_or_runs(tmp_path):
    a = write(tmp_path, "a", compare_doc(0, {"last": {"en": 0.5, "si": 0.5}}))
    b = write(tmp_path, "b", compare_doc(1, {"last": {"en": 0.5, "si": 0.5}}, task="xnli"))
    c = write(tmp_path, "c", compare_doc(1, {"token_softmax": {"en": 0.5, "si": 0.5}}))
    with pytest.raises(DataError, match="task"):
        seeds.load([a, b])
    with pytest.raises(DataError, match="runs"):
        seeds.load([a, c])
    assert len(seeds.load([a, c], same_runs=False)) == 2  # a study whose designs differ by seed
    with pytest.raises(DataError, match="task"):
        seeds.load([a, b], same_runs=False)
    with pytest.raises(DataError, match="compare.json is missing"):
        seeds.load([tmp_path / "nowhere"])


def test_a_reference_row_of_some_seeds_is_reported_over_those_seeds(tmp_path):
    a = compare_doc(0, {"last": {"en": 0.8, "si": 0.4}})
    a["references"] = {"LLM alone": {"accuracy": {"en": 0.5, "si": 0.1}, "dev_accuracy": 0.3},
                       "probe: best mix (layer 3)": {"accuracy": {"en": 0.9, "si": 0.7}}}
    b = compare_doc(1, {"last": {"en": 0.6, "si": 0.6}})
    b["references"] = {"probe: best mix (mean of all layers)": {"accuracy": {"en": 0.7, "si": 0.5}}}
    docs = seeds.load([write(tmp_path, "s0", a), write(tmp_path, "s1", b)])
    assert seeds.names(docs) == ["last", "LLM alone", seeds.BEST_MIX]
    rows = {line.split(" | ")[0]: line for line in seeds.headline(docs)}
    assert rows["| LLM alone (seed 0 only)"] == "| LLM alone (seed 0 only) | 30.0 | 30.0 | 10.0 |"
    assert rows[f"| {seeds.BEST_MIX}"].endswith("| 70.0 ± 10.0 | 60.0 ± 10.0 |")  # both seeds, one name
    assert next(line for line in seeds.per_language(docs) if line.startswith("| si ")) == "| si (low) | 50.0 ± 10.0 | 10.0 | 60.0 ± 10.0 |"
