"""The objectives table of docs/generation.md (tools/objectives_report.py), from synthetic compare documents."""

import json

import pytest

from layerbridge.errors import DataError
from tools import objectives_report


def write_run(root, objective, seed, low, *, eng=70.0, dev=68.0, languages=("eng_Latn", "sin_Sinh", "tam_Taml"),
              paired=None, interval=True):
    folder = root / "objectives" / objective / f"seed{seed}"
    folder.mkdir(parents=True)
    run = {"summary": {"metric": "chrf", "low_resource_chrf": low}, "results": {"eng_Latn": {"chrf": eng}},
           "train": {"mixed_precision": "no", "dev_chrf": dev}}  # "no": fp32, as train_summary.json writes it
    if interval:
        run["low_resource_chrf_ci95"] = [low - 1.0, low + 1.0]
    doc = {"languages": list(languages), "low_resource": [l for l in languages if l != "eng_Latn"], "eval_limit": 64,
           "train_config": {"seed": seed}, "runs": {"global_softmax": run}}
    (folder / "compare.json").write_text(json.dumps(doc))
    if paired is not None:
        (folder / "summary.json").write_text(json.dumps({"low_resource": {"difference": paired, "ci95": [paired - 0.5, paired + 0.5]}}))


def test_no_runs_says_how_to_make_them(tmp_path):
    assert objectives_report.objectives_block(tmp_path)[0].startswith("(no finished run yet")


def test_rows_restating_first_with_paired_difference(tmp_path):
    write_run(tmp_path, "continuation", 0, 21.0, paired=2.0)
    write_run(tmp_path, "continuation", 1, 23.0, paired=3.0)
    write_run(tmp_path, "restate", 0, 19.0)
    write_run(tmp_path, "restate", 1, 20.0)
    write_run(tmp_path, "token-dropout", 0, 18.0)  # not paired yet: no difference shown
    lines = objectives_report.objectives_block(tmp_path)
    assert "sin_Sinh, tam_Taml" in lines[0] and "64 test sentences" in lines[0]
    rows = lines[4:]
    assert rows[0].startswith("| restating (the baseline) | 0, 1 | fp32 | 68.0 ± 0.0 | 70.0 ± 0.0 | 19.5 ± 0.5 [18.5, 20.5] | — |")
    assert rows[1].startswith("| continuation | 0, 1 |") and rows[1].endswith("| 22.0 ± 1.0 [21.0, 23.0] | +2.5 [+2.0, +3.0] |")
    assert rows[2].endswith("| 18.0 [17.0, 19.0] | — |")


def test_a_seed_without_its_pairing_shows_no_difference(tmp_path):
    write_run(tmp_path, "continuation", 0, 21.0, paired=2.0)
    write_run(tmp_path, "continuation", 1, 23.0, interval=False)
    row = objectives_report.objectives_block(tmp_path)[4]
    assert row.endswith("| 22.0 ± 1.0 | — |")  # neither the interval nor the difference of one seed passes for both


def test_different_languages_refused(tmp_path):
    write_run(tmp_path, "restate", 0, 19.0)
    write_run(tmp_path, "continuation", 0, 21.0, languages=("eng_Latn", "sin_Sinh"))
    with pytest.raises(DataError, match="different languages"):
        objectives_report.objectives_block(tmp_path)


def test_the_two_stage_control_line_needs_every_seed(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path, "continuation+restate", seed, 19.0, paired=1.9)
        write_run(tmp_path, "restate+restate", seed, 19.0, paired=1.7)
    (tmp_path / "objectives" / "continuation+restate" / "seed0" / "control.json").write_text(
        json.dumps({"low_resource": {"difference": 0.2, "ci95": [-0.5, 0.9]}}))
    assert not any("the same two stages" in line for line in objectives_report.objectives_block(tmp_path))
    (tmp_path / "objectives" / "continuation+restate" / "seed1" / "control.json").write_text(
        json.dumps({"low_resource": {"difference": 0.6, "ci95": [-0.1, 1.3]}}))
    last = objectives_report.objectives_block(tmp_path)[-1]
    assert "the same two stages" in last and last.endswith("+0.4 [-0.3, +1.1] (seeds 0, 1).")
