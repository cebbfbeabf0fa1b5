"""The real-budget tables of docs/generation.md (tools/budget_report.py: the designs, per language, example
outputs), from synthetic compare documents and predictions."""

import json
import shutil

import pytest

from layerbridge.errors import DataError
from tools import budget_report

LANGUAGES = ("eng_Latn", "sin_Sinh", "tam_Taml")


def write_run(root, study, variant, seed, low, *, run="global_softmax", train=None, paired=None, languages=LANGUAGES,
              references=None, init_from=None):
    folder = root / study / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    scores = {lang: (80.0 if lang == "eng_Latn" else low) for lang in languages}
    result = {"summary": {"metric": "chrf", "low_resource_chrf": low},
              "results": {lang: {"chrf": s, "chrf_ci95": [s - 1.0, s + 1.0]} for lang, s in scores.items()},
              "low_resource_chrf_ci95": [low - 1.0, low + 1.0],
              "train": {"mixed_precision": "no", "dev_chrf": 70.0, "steps": 200, **(train or {})}}
    doc = {"task": "flores_en", "metric": "chrf", "languages": list(languages),
           "low_resource": [l for l in languages if l != "eng_Latn"], "eval_limit": 64,
           "train_config": {"seed": seed, "init_from": init_from}, "runs": {run: result}, "references": references or {}}
    (folder / "compare.json").write_text(json.dumps(doc))
    if paired is not None:
        (folder / "summary.json").write_text(json.dumps({"low_resource": {"difference": paired, "ci95": [paired - 0.5, paired + 0.5]}}))
    return folder


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
    assert rows[0].startswith(f"| {budget_report.BASELINE_LABEL} | 0 | fp32 | — | 200 | 70.0 | 80.0 | 17.0 [16.0, 18.0] | — |")
    assert rows[1].startswith("| soft tokens") and "| — | best 2,000 of 2,000 |" in rows[1]
    assert rows[1].endswith("| 20.0 [19.0, 21.0] | +3.0 [+2.5, +3.5] |")
    assert rows[2].startswith("| cross-attention") and "| best 1,000, stopped at 1,300 of 2,000 |" in rows[2]


def test_a_two_stage_design_names_its_stage_1_from_its_record(tmp_path):
    """The bitext-stage row says what its stage 1 trained on and how long (the stage-1 bridge's run.json,
    found by the path compare recorded relative to the repository, root's parent); a stage 1 without one
    is named."""
    results = tmp_path / "results"
    write_run(results, "flores-en-budget", "restate-200", 0, 17.0)
    stage1 = "results/flores-en-budget/bitext-stage1/seed0"
    write_run(results, "flores-en-budget", "bitext-stage", 0, 24.0, init_from=stage1, paired=7.0)
    with pytest.raises(DataError, match="bitext-stage1/seed0: no run.json"):
        budget_report.budget_block(results)
    (tmp_path / stage1).mkdir(parents=True)
    (tmp_path / stage1 / "run.json").write_text(json.dumps({"train": {"task": "xnli_bitext", "steps": 1000}}))
    row = budget_report.budget_block(results)[-1]
    assert row.startswith("| bitext stage 1, then soft tokens | 0 | fp32 | xnli_bitext, 1,000 steps | 200 |")


def test_a_design_on_other_languages_than_the_baseline_is_refused(tmp_path):
    write_run(tmp_path, "flores-en-budget", "restate-200", 0, 17.0)
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 0, 20.0, languages=("eng_Latn", "sin_Sinh"))
    with pytest.raises(DataError, match="different languages"):
        budget_report.budget_block(tmp_path)


def test_a_missing_run_in_compare_is_named(tmp_path):
    write_run(tmp_path, "flores-en-budget", "cross-attention", 0, 20.0)  # the run is named global_softmax
    with pytest.raises(DataError, match="cross-attention/seed0/compare.json"):
        budget_report.budget_block(tmp_path)


def test_per_language_table_has_the_baseline_the_designs_and_the_llm_alone(tmp_path):
    zero = {"chrf": {"eng_Latn": 30.0, "sin_Sinh": 1.0, "tam_Taml": 2.0}}
    write_run(tmp_path, "flores-en-budget", "restate-200", 0, 17.0, references={"LLM alone, zero-shot": zero})
    assert budget_report.languages_block(tmp_path, tmp_path / "plots", tmp_path / "doc.md") == budget_report.NOTHING
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 0, 21.0)
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 1, 23.0)  # no baseline of seed 1: not in this table
    lines = budget_report.languages_block(tmp_path, tmp_path / "plots", tmp_path / "doc.md")
    assert lines[0].startswith("Seeds [0], 64 test sentences per language")
    assert lines[2] == "| language | restating, 200 steps | soft tokens, up to 2,000 steps | LLM alone, zero-shot |"
    assert "| sin_Sinh (low) | 17.0 [16.0, 18.0] | 21.0 [20.0, 22.0] | 1.0 |" in lines
    assert "| **low-resource average** | **17.0 [16.0, 18.0]** | **21.0 [20.0, 22.0]** | **1.5** |" in lines
    assert (tmp_path / "plots" / "flores_en_budget_chrf.png").is_file()
    write_run(tmp_path, "flores-en-budget", "restate-200", 1, 18.0)  # the soft tokens' seed 1 joins the table
    write_run(tmp_path, "flores-en-budget", "cross-attention", 0, 22.0, run="global_softmax[injection=cross_attention]")
    lines = budget_report.languages_block(tmp_path, tmp_path / "plots", tmp_path / "doc.md")
    assert lines[0].startswith("Seeds [0, 1], 64 test sentences per language")
    assert lines[2] == ("| language | restating, 200 steps | soft tokens, up to 2,000 steps | cross-attention, up to "
                        "2,000 steps (seed 0 only) | LLM alone, zero-shot (seed 0 only) |")
    assert "| sin_Sinh (low) | 17.5 ± 0.5 [16.5, 18.5] | 22.0 ± 1.0 [21.0, 23.0] | 22.0 [21.0, 23.0] | 1.0 |" in lines


def predictions(folder, run, outputs, evaluation="eval-generation"):
    """A run's evaluation predictions: outputs[language][sentence id]."""
    where = folder / run / evaluation / "predictions"
    where.mkdir(parents=True)
    for lang, found in outputs.items():
        rows = [{"id": f"{lang}/{i}", "output": text, "reference": "third-party text"} for i, text in found.items()]
        (where / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_examples_keep_the_example_sentences_outputs_only_and_survive_without_predictions(tmp_path):
    ids = list(budget_report.GISTS)
    base = write_run(tmp_path, "flores-en-budget", "restate-200", 0, 17.0)
    design = write_run(tmp_path, "flores-en-budget", "cross-attention", 0, 20.0,
                       run="global_softmax[injection=cross_attention]")
    predictions(base, "global_softmax", {"sin_Sinh": {"7": "not an example", **{i: f"base {i}" for i in ids}}})
    # compare's folder for the run (its file-system name)
    predictions(design, "global_softmax-injection=cross_attention", {"sin_Sinh": {i: f"cross\n{i}" for i in ids}})
    # decoded again with beams (budget.sh BEAMS): the examples stay the greedy outputs the tables score
    predictions(base, "global_softmax", {"sin_Sinh": {i: f"beams {i}" for i in ids}}, evaluation="eval-beams4")
    lines = budget_report.examples_block(tmp_path)
    at = lines.index(f"**index_id {ids[0]}** ({budget_report.GISTS[ids[0]]})")
    assert lines[at + 2:at + 7] == ["- tam_Taml:", "- sin_Sinh:", f"  - restating, 200 steps: base {ids[0]}",
                                    f"  - cross-attention, up to 2,000 steps: cross {ids[0]}", "- amh_Ethi:"]
    saved = json.loads((base / "examples.json").read_text())
    assert saved["ids"] == ids and list(saved["outputs"]["sin_Sinh"]) == ids  # sentence 7 left out
    assert "third-party" not in (base / "examples.json").read_text()
    shutil.rmtree(base / "global_softmax")  # a fresh clone: examples.json, no predictions
    shutil.rmtree(design / "global_softmax-injection=cross_attention")
    assert budget_report.examples_block(tmp_path) == lines


def test_reach_of_the_budget_runs_sits_beside_their_chrf(tmp_path):
    """A budget run's diagnostic (RUN/soft-token-reach/results.json, kept in git) feeds the reach table, with
    the chrF++ of its compare.json."""
    from tools import generation_report

    assert budget_report.diagnosed(tmp_path, "soft-token-reach") == {}
    for variant, low, reach in (("restate-200", 17.0, 0.2), ("soft-tokens", 21.0, 0.1)):
        folder = write_run(tmp_path, "flores-en-budget", variant, 0, low) / "global_softmax" / "soft-token-reach"
        folder.mkdir(parents=True)
        folder.joinpath("results.json").write_text(json.dumps({
            "limit": 64, "languages": {lang: {"reach": reach, "reach_other": 0.05} for lang in LANGUAGES},
            "summary": {"low_resource_languages": list(LANGUAGES[1:]), "low_resource_reach": reach,
                        "low_resource_reach_other": 0.05}}))
    columns = budget_report.diagnosed(tmp_path, "soft-token-reach")
    assert list(columns) == ["restating, 200 steps", "soft tokens, up to 2,000 steps"]
    lines = generation_report.reach_block(tmp_path, columns)
    assert "| sin_Sinh (low) | 20% (5%) · 17.0 | 10% (5%) · 21.0 |" in lines
    assert "| **low-resource average** | **20% (5%) · 17.0** | **10% (5%) · 21.0** |" in lines
    # the baseline of a second seed: the soft tokens' column names the one seed it has
    folder = write_run(tmp_path, "flores-en-budget", "restate-200", 1, 19.0) / "global_softmax" / "soft-token-reach"
    folder.mkdir(parents=True)
    folder.joinpath("results.json").write_text((tmp_path / "flores-en-budget/restate-200/seed0/global_softmax/"
                                                "soft-token-reach/results.json").read_text())
    lines = generation_report.reach_block(tmp_path, budget_report.diagnosed(tmp_path, "soft-token-reach"))
    assert lines[0].startswith("Seeds [0, 1];")
    assert lines[2] == "| language | restating, 200 steps | soft tokens, up to 2,000 steps (seed 0 only) |"


def test_targets_name_the_best_design_of_each_kind(tmp_path):
    """English-only designs (from scratch) and bitext-stage ones (from a stage-1 bridge) meet their own
    targets; the copy ceiling is the best English of any design; the baseline is no design; a target no
    design of its kind was run for says so."""
    write_run(tmp_path, "flores-en-budget", "restate-200", 0, 26.0)  # above 25, but the baseline
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 0, 20.0)
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 1, 22.0)
    write_run(tmp_path, "flores-en-budget", "cross-attention", 0, 19.0, run="global_softmax[injection=cross_attention]")
    lines = budget_report.targets_block(tmp_path)
    assert lines[2] == ("| English-only design, low-resource average | 25 | soft tokens (global_softmax, lexical start) | 0, 1 "
                        "| 21.0 [20.0, 22.0] | no | — |")
    assert lines[3].startswith("| bitext-stage design, low-resource languages outside the bitext | 30 | (not run yet) |")
    assert lines[4].endswith("| 80.0 [79.0, 81.0] | no | — |")
    stage2 = write_run(tmp_path, "flores-en-budget", "bitext-stage", 0, 31.0, init_from="stage1")
    assert budget_report.targets_block(tmp_path)[3].endswith("| bitext stage 1, then soft tokens | 0 | 31.0 [30.0, 32.0] | **yes** | — |")
    # decoded with beams as well (budget.sh BEAMS): the best such design beside the greedy one
    (stage2 / "global_softmax" / "eval-beams4").mkdir(parents=True)
    (stage2 / "global_softmax" / "eval-beams4" / "summary.json").write_text(json.dumps({
        "scores": {"second": {"eng_Latn": 86.0, "sin_Sinh": 32.0, "tam_Taml": 33.0}},
        "low_resource": {"languages": ["sin_Sinh", "tam_Taml"]}}))
    lines = budget_report.targets_block(tmp_path)
    assert lines[3].endswith("| **yes** | 32.5 (**met**): bitext stage 1, then soft tokens, 4 beams |")
    assert lines[4].endswith("| no | 86.0 (**met**): bitext stage 1, then soft tokens, 4 beams |")
    assert lines[2].endswith("| — |")  # soft tokens: seed 0 nor 1 decoded with beams
    # the beam decoding's own record (evaluate's results.json) gives its interval
    (stage2 / "global_softmax" / "eval-beams4" / "results.json").write_text(json.dumps({
        "summary": {"low_resource_chrf_ci95": [31.0, 34.0]}, "languages": {"eng_Latn": {"chrf_ci95": [84.0, 88.0]}}}))
    lines = budget_report.targets_block(tmp_path)
    assert lines[3].endswith("| **yes** | 32.5 [31.0, 34.0] (**met**): bitext stage 1, then soft tokens, 4 beams |")
    assert lines[4].endswith("| no | 86.0 [84.0, 88.0] (**met**): bitext stage 1, then soft tokens, 4 beams |")
    # a second seed decoded greedily only: the beam value stays that of the seed decoded so, and names it
    write_run(tmp_path, "flores-en-budget", "bitext-stage", 1, 29.0, init_from="stage1")
    lines = budget_report.targets_block(tmp_path)
    assert "| bitext stage 1, then soft tokens | 0, 1 | 30.0 [29.0, 31.0] | **yes** | " in lines[3]
    assert lines[3].endswith("| 32.5 [31.0, 34.0] (**met**): bitext stage 1, then soft tokens, 4 beams (seed 0 only) |")


def test_beam_search_beside_greedy_per_language_with_the_paired_average(tmp_path):
    """A run decoded both ways (RUN/eval-beams4/summary.json, tools/paired_bootstrap.py's document): per
    language greedy / beams / difference, and the low-resource averages with the paired interval."""
    assert budget_report.beams_block(tmp_path) == budget_report.NOTHING
    folder = write_run(tmp_path, "flores-en-budget", "soft-tokens", 0, 20.0)
    (folder / "global_softmax" / "eval-beams4").mkdir(parents=True)
    assert budget_report.beams_block(tmp_path) == budget_report.NOTHING  # not paired yet
    document = {"scores": {"first": {"eng_Latn": 80.0, "sin_Sinh": 20.0, "tam_Taml": 18.0},
                           "second": {"eng_Latn": 81.0, "sin_Sinh": 23.0, "tam_Taml": 19.0}},
                "low_resource": {"difference": 2.0, "ci95": [1.0, 3.0], "languages": ["sin_Sinh", "tam_Taml"]}}
    (folder / "global_softmax" / "eval-beams4" / "summary.json").write_text(json.dumps(document))
    lines = budget_report.beams_block(tmp_path)
    assert lines[2] == "| language | soft tokens, up to 2,000 steps (seed 0), 4 beams |"
    assert "| eng_Latn | 80.0 / 81.0 / +1.0 |" in lines and "| sin_Sinh (low) | 20.0 / 23.0 / +3.0 |" in lines
    assert lines[-1] == "| **low-resource average** | **19.0 / 21.0 / +2.0 [+1.0, +3.0]** |"


def test_designs_against_the_soft_tokens_of_the_same_budget_averaged_over_seeds(tmp_path):
    """<design>/seed<N>/versus-soft-tokens.json (budget.sh): the English and per-language differences and
    the paired interval averaged over the seeds that have the pairing; a design without one is left out."""
    assert budget_report.versus_block(tmp_path) == budget_report.NOTHING
    for seed, (sin, tam) in enumerate([(2.0, -1.0), (4.0, 0.5)]):
        folder = write_run(tmp_path, "flores-en-budget", "bitext-stage", seed, 22.0, init_from=None)
        document = {"scores": {"first": {"eng_Latn": 80.0, "sin_Sinh": 20.0, "tam_Taml": 18.0},
                               "second": {"eng_Latn": 80.01 - seed * 0.03, "sin_Sinh": 20.0 + sin, "tam_Taml": 18.0 + tam}},
                    "low_resource": {"difference": (sin + tam) / 2, "ci95": [seed - 1.0, seed + 2.0],
                                     "languages": ["sin_Sinh", "tam_Taml"]}}
        (folder / budget_report.VERSUS).write_text(json.dumps(document))
    write_run(tmp_path, "flores-en-budget", "cross-attention", 0, 21.0,  # not paired: left out
              run="global_softmax[injection=cross_attention]")
    lines = budget_report.versus_block(tmp_path)
    assert lines[-1] == "| bitext stage 1, then soft tokens | 0, 1 | +0.0 | +1.4 [-0.5, +2.5] | 1 of 2 |"
    assert len(lines) == 5  # the explanation, a blank line, the header, its rule, one design
    # a second seed of the bitext stage without soft tokens of its own seed: the pairing is of seeds 0 and 1
    write_run(tmp_path, "flores-en-budget", "bitext-stage", 2, 23.0, init_from=None)
    assert budget_report.versus_block(tmp_path) == lines


def test_a_design_chosen_on_other_languages_is_no_english_only_design(tmp_path):
    """soft-tokens-xdev trains on English but keeps the weights its dev rows in other languages choose: it
    stands for the copy target, not for the English-only one."""
    write_run(tmp_path, "flores-en-budget", "soft-tokens", 0, 20.0)
    folder = write_run(tmp_path, "flores-en-budget", "soft-tokens-xdev", 0, 22.0)
    document = json.loads((folder / "compare.json").read_text())
    document["train_config"]["dev_languages"] = ["swh_Latn"]
    document["runs"]["global_softmax"]["results"]["eng_Latn"]["chrf"] = 90.0
    (folder / "compare.json").write_text(json.dumps(document))
    english_only, _, copy = budget_report.targets_block(tmp_path)[2:]
    assert "| soft tokens (global_softmax, lexical start) | 0 | 20.0" in english_only
    assert "| soft tokens, dev in other languages | 0 | 90.0" in copy
