"""The real-budget table of docs/generation.md (tools/budget_report.py), from synthetic compare documents."""

import json

import pytest

from layerbridge.errors import DataError
from tools import budget_report

LANGUAGES = ("eng_Latn", "sin_Sinh", "tam_Taml")


def write_run(root, study, variant, seed, low, *, run="global_softmax", train=None, paired=None, languages=LANGUAGES):
    folder = root / study / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    result = {"summary": {"metric": "chrf", "low_resource_chrf": low}, "results": {"eng_Latn": {"chrf": 80.0}},
              "low_resource_chrf_ci95": [low - 1.0, low + 1.0],
              "train": {"mixed_precision": "no", "dev_chrf": 70.0, "steps": 200, **(train or {})}}
    doc = {"languages": list(languages), "low_resource": [l for l in languages if l != "eng_Latn"], "eval_limit": 64,
           "train_config": {"seed": seed}, "runs": {run: result}}
    (folder / "compare.json").write_text(json.dumps(doc))
    if paired is not None:
        (folder / "summary.json").write_text(json.dumps({"low_resource": {"difference": paired, "ci95": [paired - 0.5, paired + 0.5]}}))


def test_no_runs_says_how_to_make_them(tmp_path):
    write_run(tmp_path, "flores-en-budget", "restate-200", 0, 17.0)
    assert budget_report.budget_block(tmp_path)[0].startswith("(no finished run yet")


def test_baseline_first_then_designs_with_their_steps(tmp_path):
    write_run(tmp_path, "flores-en-budget", "restate-200", 0, 17.0)
    stopped = {"steps": 1300, "best_step": 1000, "stopped_early": {"step": 1300, "max_steps": 2000, "patience": 3}}
    write_run(tmp_path, "flores-en-budget", "cross-attention", 0, 22.0, run="global_softmax[injection=cross_attention]",
              train=stopped, paired=5.0)
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 0, 20.0, train={"steps": 2000, "best_step": 2000}, paired=3.0)
    lines = budget_report.budget_block(tmp_path)
    assert "sin_Sinh, tam_Taml" in lines[0]
    rows = lines[4:]
    assert rows[0].startswith(f"| {budget_report.BASELINE_LABEL} | 0 | fp32 | 200 | 70.0 | 80.0 | 17.0 [16.0, 18.0] | — |")
    assert rows[1].startswith("| soft tokens") and "| best 2,000 of 2,000 |" in rows[1]
    assert rows[1].endswith("| 20.0 [19.0, 21.0] | +3.0 [+2.5, +3.5] |")
    assert rows[2].startswith("| cross-attention") and "| best 1,000, stopped at 1,300 of 2,000 |" in rows[2]


def test_a_design_on_other_languages_than_the_baseline_is_refused(tmp_path):
    write_run(tmp_path, "flores-en-budget", "restate-200", 0, 17.0)
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 0, 20.0, languages=("eng_Latn", "sin_Sinh"))
    with pytest.raises(DataError, match="different languages"):
        budget_report.budget_block(tmp_path)


def test_a_missing_run_in_compare_is_named(tmp_path):
    write_run(tmp_path, "flores-en-budget", "cross-attention", 0, 20.0)  # the run is named global_softmax
    with pytest.raises(DataError, match="cross-attention/seed0/compare.json"):
        budget_report.budget_block(tmp_path)
