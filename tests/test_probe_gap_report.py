"""The probe-gap study's tables (tools/probe_gap_report.py): the designs beside the fair-budget rows of
the SAME seeds, their gap to that seed's probe, and the default rule over English dev."""

import pytest

from tools.probe_gap_report import blocks

LANGS = ["eng_Latn", "sin_Sinh", "tam_Taml"]
POOLED = "global_softmax[projector=linear;projector.pooled=1]"
CENTRED = "global_softmax[center_languages=true]"


def run(dev: float, scores: list[float], lr: float = 3e-3) -> dict:
    return {"results": {lang: {"accuracy": s} for lang, s in zip(LANGS, scores)}, "train": {"dev_accuracy": dev},
            "chosen_lr": lr}


def document(seed: int, runs: dict, references: dict | None = None, languages=LANGS, low=LANGS[1:], **trained) -> dict:
    return {"metric": "accuracy", "languages": languages, "low_resource": low, "train_config": {"seed": seed, **trained},
            "runs": runs, "references": references or {}}


def probe(dev: float, scores: list[float]) -> dict:
    return {"dev_accuracy": dev, "accuracy": dict(zip(LANGS, scores))}


def fair(seed: int, default_dev: float, probe_low: float) -> dict:
    return document(seed, {"last": run(0.80, [0.8, 0.5, 0.5]), "global_softmax": run(default_dev, [0.9, 0.6, 0.7])},
                    {"probe: last layer": probe(0.9, [0.9, probe_low, probe_low])})


def all_docs(pooled_dev: float) -> dict:
    fair_runs = [fair(0, 0.86, 0.70), fair(1, 0.86, 0.74), fair(2, 0.86, 0.99)]  # seed 2: no design ran on it
    gap = [document(s, {POOLED: run(pooled_dev, [0.9, 0.72 + s / 100, 0.76 + s / 100], lr=1e-3),
                        CENTRED: run(0.86, [0.9, 0.70, 0.70])}) for s in (0, 1)]
    return {"fair-sib200": fair_runs, "probe-gap-sib200": gap,
            "fair-sinhala-news": [fair(s, 0.60, 0.6) for s in (0, 1)],
            "probe-gap-sinhala-news": [document(s, {POOLED: run(pooled_dev - 0.26, [0.7, 0.65, 0.65]),
                                                    CENTRED: run(0.60, [0.6, 0.6, 0.6])}) for s in (0, 1)]}


def row(lines: list[str], task: str, label: str) -> list[str]:
    hits = [line for line in lines if line.startswith(f"| {task} | {label} |")]
    assert len(hits) == 1, (label, lines)
    return [cell.strip() for cell in hits[0].strip("|").split("|")]


def test_designs_stand_beside_the_fair_budget_rows_of_the_same_seeds():
    lines = blocks(all_docs(0.88))["probe-gap"]
    pooled = row(lines, "SIB-200", "default + pooled token")
    # seeds 0, 1; lr; dev 88; low-resource (0.72 + 0.76) / 2 at seed 0, (0.73 + 0.77) / 2 at seed 1
    assert pooled[2:6] == ["0, 1", "0.001, 0.001", "88.0 ± 0.0", "74.5 ± 0.5"]
    # minus the probe of the same seed (0.70, 0.74): +4.0 and +1.0; seed 2's probe (0.99) plays no part
    assert pooled[6] == "2.5 ± 1.5"
    probe_row = row(lines, "SIB-200", "probe: last layer")
    assert probe_row[2] == "0, 1" and probe_row[5] == "72.0 ± 2.0"
    assert row(lines, "SIB-200", "default, centred †")[6] == "-2.0 ± 2.0"


def test_the_rule_keeps_the_default_unless_a_design_wins_by_more_than_the_margin():
    close = blocks(all_docs(0.86 + 0.005))["probe-gap-rule"]  # within 1 point: the cheaper default wins
    assert "By the rule the default is **default (global_softmax)**" in close[-1]
    ahead = blocks(all_docs(0.86 + 0.03))["probe-gap-rule"]  # 3 points ahead on both tasks' mean
    assert "By the rule the default is **default + pooled token**" in ahead[-1]


def test_languages_table_has_every_row_mean_over_the_design_seeds():
    lines = blocks(all_docs(0.88))["probe-gap-languages"]
    header = next(line for line in lines if line.startswith("| language |"))
    assert "default + pooled token" in header and "probe: last layer" in header
    sin = next(line for line in lines if line.startswith("| sin_Sinh (low) |"))
    assert "72.5" in sin  # the pooled design: (0.72 + 0.73) / 2
    assert blocks({})["probe-gap"][0].startswith("(no runs yet")


def test_grids_show_every_learning_rate_and_bold_the_chosen_one():
    docs = all_docs(0.88)
    wide = document(0, {"last[projector=pooled]": {**run(0.9, [0.86, 0.8, 0.78], lr=1e-2),
                                                  "lr_grid": {"0.003": 0.7, "0.01": 0.9, "0.03": 0.8}}}, keep_best=False)
    lines = blocks({**docs, "probe-gap-wide-sib200": [wide]})["probe-gap-grids"]
    row = next(line for line in lines if "pooled token alone" in line)
    # English dev at each lr, the chosen in bold; the chosen run's English test (eng_Latn) and low-resource average
    assert "| 0.003: 70.0 / **0.01: 90.0** / 0.03: 80.0 | 86.0 | 79.0 |" in row, row


def test_a_wider_grid_row_is_shown_beside_the_designs_but_never_enters_the_rule():
    docs = all_docs(0.86 + 0.005)
    wide = document(0, {"last[projector=pooled]": run(0.99, [0.9, 0.85, 0.85], lr=3e-2)}, keep_best=False)
    out = blocks({**docs, "probe-gap-wide-sib200": [wide]})
    lines = out["probe-gap"]
    cells = row(lines, "SIB-200", "pooled token alone (last layer), wider lr grid")
    assert cells[2:6] == ["0", "0.03", "99.0", "85.0"] and cells[6] == "15.0"  # minus seed 0's probe, 0.70
    assert "By the rule the default is **default (global_softmax)**" in out["probe-gap-rule"][-1]
    assert not any("wider" in line for line in out["probe-gap-rule"])


def test_a_wider_grid_seed_brings_its_own_seeds_probe_and_default():
    docs = all_docs(0.88)  # designs on seeds 0 and 1; the fair-budget runs have seeds 0, 1, 2
    wide = [document(seed, {"last[projector=pooled]": run(0.8, [0.9, 0.85, 0.85], lr=3e-2)}, keep_best=False)
            for seed in (0, 2)]
    out = blocks({**docs, "probe-gap-wide-sib200": wide})
    cells = row(out["probe-gap"], "SIB-200", "pooled token alone (last layer), wider lr grid")
    # minus the probe of the same seed: 85.0 - 70.0 at seed 0, 85.0 - 99.0 at seed 2
    assert cells[2] == "0, 2" and cells[6] == "0.5 ± 14.5", cells
    assert row(out["probe-gap"], "SIB-200", "probe: last layer")[2] == "0, 1, 2"
    header = next(line for line in out["probe-gap-languages"] if line.startswith("| language |"))
    assert "default + pooled token (seed 0, 1)" in header and "probe: last layer |" in header


def test_the_longer_budget_variant_is_labelled_in_every_table_and_kept_out_of_the_rule():
    docs = all_docs(0.86)
    longer = document(0, {"last[projector=pooled]": {**run(0.99, [0.9, 0.8, 0.8], lr=3e-2),
                                                     "lr_grid": {"0.01": 0.9, "0.03": 0.99}}}, epochs=4.0, keep_best=True)
    out = blocks({**docs, "probe-gap-4-epochs-sib200": [longer]})
    said = "pooled token alone (last layer), lrs 0.01, 0.03, 4 epochs (best English dev kept)"  # the grid it ran
    cells = row(out["probe-gap"], "SIB-200", said)
    assert cells[3] == "0.03" and cells[5] == "80.0" and cells[6] == "10.0"  # minus seed 0's probe, 0.70
    assert any(said in line and "**0.03: 99.0**" in line for line in out["probe-gap-grids"])
    assert said in next(line for line in out["probe-gap-languages"] if line.startswith("| language |"))
    assert not any("4 epochs" in line for line in out["probe-gap-rule"])


def test_a_variant_seed_leaves_the_rule_as_it_was():
    """A variant run on a seed no design ran on brings that seed's fair rows to the tables, not to the rule."""
    docs = all_docs(0.88)
    before = blocks(docs)["probe-gap-rule"]
    extra = document(2, {"last[projector=pooled]": run(0.5, [0.9, 0.85, 0.85], lr=3e-2)}, keep_best=False)
    assert blocks({**docs, "probe-gap-wide-sib200": [extra]})["probe-gap-rule"] == before


def test_a_variant_folder_holding_runs_trained_otherwise_is_refused():
    """Rows labelled "4 epochs (best English dev kept)" must have been trained so."""
    from layerbridge.errors import DataError

    other = document(0, {"last[projector=pooled]": run(0.9, [0.9, 0.8, 0.8], lr=3e-2)}, epochs=2.0, keep_best=True)
    with pytest.raises(DataError, match=r"probe-gap-4-epochs \(seed 0\).*'epochs': 2.0"):
        blocks({**all_docs(0.86), "probe-gap-4-epochs-sib200": [other]})


def test_the_rule_applies_within_a_variant_where_the_default_ran_too():
    docs = all_docs(0.86 + 0.005)  # the fair rule keeps the default
    alone = "last[projector=pooled]"
    for folder, base_dev in (("sib200", 0.86), ("sinhala-news", 0.60)):
        docs[f"probe-gap-wide-{folder}"] = [document(s, {alone: run(base_dev - 0.005, [0.9, 0.8, 0.8], lr=3e-2),
                                                         "global_softmax": run(base_dev, [0.9, 0.6, 0.7], lr=1e-2)},
                                                     keep_best=False) for s in (0, 1)]
    rule = blocks(docs)["probe-gap-rule"]
    fair_verdict = next(i for i, line in enumerate(rule) if "By the rule" in line)
    assert "**default (global_softmax)**" in rule[fair_verdict]  # the fair rule: no variant row in it
    assert not any("wider" in line for line in rule[:fair_verdict])
    assert rule[fair_verdict + 2].startswith("Within the variant (wider lr grid;")
    assert "| pooled token alone (last layer), wider lr grid | 85.5 ± 0.0 (2) | 59.5 ± 0.0 (2) | 72.5 |" in rule
    # half a point below the default on the same grid, and cheaper: within the margin, so it wins there
    assert rule[-1].endswith("By the rule the default is **pooled token alone (last layer), wider lr grid**.")
    docs["probe-gap-wide-sinhala-news"] = [document(0, {alone: run(0.5, [0.9, 0.8, 0.8])}, keep_best=False)]
    assert not any(line.startswith("Within") for line in blocks(docs)["probe-gap-rule"])  # no default there


def test_the_centred_probe_stands_beside_the_designs_with_a_gap_column_of_its_own():
    """studies/probe-gap/run.sh's centred probe (a references-only document of the same seed): its row, the
    plain probe re-run beside it, and every row's difference from it on the same seeds."""
    docs = all_docs(0.88)
    references = {"probe, centred: last layer": probe(0.9, [0.9, 0.75, 0.75]), "probe: last layer": probe(0.9, [0.9, 0.7, 0.7])}
    docs["probe-gap-sib200"] = docs["probe-gap-sib200"] + [document(0, {}, references)]
    lines = blocks(docs)["probe-gap"]
    centred = row(lines, "SIB-200", "probe, centred †: last layer")
    assert centred[2] == "0" and centred[5] == "75.0" and centred[6] == "5.0" and centred[7] == "—"  # 75 - seed 0's 70
    assert row(lines, "SIB-200", "probe: last layer (re-run beside the centred probe)")[5] == "70.0"
    # the centred default minus the centred probe on seed 0 only (70 - 75); the pooled design 74 - 75
    assert row(lines, "SIB-200", "default, centred †")[7] == "-5.0"
    assert row(lines, "SIB-200", "default + pooled token")[7] == "-1.0"
    assert row(lines, "Sinhala news", "default + pooled token")[7] == "—"  # no centred probe ran there


def test_the_default_re_run_beside_the_designs_has_a_row_of_its_own():
    """run.sh's DESIGNS=default (the twin the centred default takes its training from): its own row, apart
    from the fair-budget default of the same seed, which keeps its own scores."""
    docs = all_docs(0.88)
    docs["probe-gap-sib200"][1]["runs"]["global_softmax"] = run(0.87, [0.9, 0.66, 0.68])
    lines = blocks(docs)["probe-gap"]
    rerun = row(lines, "SIB-200", "default (global_softmax): re-run beside the designs")
    assert rerun[2:6] == ["1", "0.003", "87.0", "67.0"] and rerun[6] == "-7.0"  # 67 - seed 1's probe (74)
    assert row(lines, "SIB-200", "default (global_softmax)")[5] == "65.0 ± 0.0"  # the fair-budget runs, seeds 0, 1
    assert row(blocks(docs)["probe-gap-grids"], "SIB-200", "default (global_softmax): re-run beside the designs")[2] == "1"
