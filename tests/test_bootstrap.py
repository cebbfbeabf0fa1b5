"""Bootstrap intervals of flores_en's chrF++ (evaluation/bootstrap.py, compare/intervals.py), their
rendering in docs/generation.md's table (tools/generation_report.py), and the eval subsample that
keeps the same sentence ids in every language. Tiny fake predictions only: no model runs."""

import json
import re
from pathlib import Path

import pytest

from layerbridge.compare.intervals import with_intervals
from layerbridge.compare.references import interval_keys
from layerbridge.errors import DataError
from layerbridge.evaluation import bootstrap, text_metrics
from layerbridge.tasks import get_task, load_examples
from tools import generation_report

REPO = Path(__file__).resolve().parents[1]

SENTENCES = [f"the {w} walked over the {v} bridge on day {i}" for i, (w, v) in enumerate(
    [("cat", "old"), ("dog", "new"), ("bird", "red"), ("man", "long"), ("child", "stone"), ("horse", "iron"),
     ("farmer", "wooden"), ("teacher", "narrow"), ("doctor", "broken"), ("woman", "white"), ("boy", "high"),
     ("girl", "low")])]


def outputs(quality: list[bool]) -> tuple[list[str], list[str]]:
    """(outputs, references): a sentence restated where quality is True, else a wrong one."""
    refs = [SENTENCES[i % len(SENTENCES)] + f" {i}" for i in range(len(quality))]
    hyps = [ref if good else f"nothing of the kind number {i}" for i, (ref, good) in enumerate(zip(refs, quality))]
    return hyps, refs


MIXED = [i % 3 != 0 for i in range(24)]  # two in three right


def width(ci):
    return ci[1] - ci[0]


def test_interval_is_deterministic_whatever_sacrebleu_seed(monkeypatch):
    hyps, refs = outputs(MIXED)
    first = bootstrap.interval("chrf", hyps, refs)
    monkeypatch.setenv("SACREBLEU_SEED", "7")
    assert bootstrap.interval("chrf", hyps, refs) == first
    assert bootstrap.interval("chrf", hyps, refs, seed=1) != first  # the seed is what draws it
    assert bootstrap.intervals(("chrf", "bleu", "exact_match"), hyps, refs) == bootstrap.intervals(
        ("chrf", "bleu", "exact_match"), hyps, refs)


def test_statistics_give_sacrebleus_corpus_score_and_it_lies_inside():
    hyps, refs = outputs(MIXED)
    for name, score in (("chrf", text_metrics.chrf), ("bleu", text_metrics.bleu)):
        totals = bootstrap.sentence_statistics(name, hyps, refs).sum(0)
        point = score(hyps, refs)
        assert bootstrap.score_from_totals(name, totals) == pytest.approx(point)
        low, high = bootstrap.interval(name, hyps, refs)
        assert low < point < high and high - low > 5  # a real spread: a third of the outputs are wrong


def test_language_result_keys_record_how_they_were_drawn():
    hyps, refs = outputs(MIXED)
    found = bootstrap.intervals(("chrf", "bleu", "exact_match"), hyps, refs)
    assert set(found) == {"chrf_ci95", "bleu_ci95", "bootstrap"}
    assert found["bootstrap"] == {"resamples": 1000, "seed": 12345, "level": 0.95, "unit": "sentence",
                                  "interval": "percentile"}
    assert bootstrap.intervals(("exact_match",), hyps, refs) == {} and bootstrap.intervals(("chrf",), [], []) == {}


def test_interval_shrinks_with_more_sentences():
    hyps, refs = outputs(MIXED)
    small = bootstrap.interval("chrf", hyps, refs)
    large = bootstrap.interval("chrf", hyps * 4, refs * 4)  # the same mix, four times the sentences
    assert width(large) < 0.7 * width(small)


def rows(quality: list[bool], prefix: str = "") -> dict[str, tuple[str, str]]:
    hyps, refs = outputs(quality)
    return {f"{prefix}{i:03d}": (h, r) for i, (h, r) in enumerate(zip(hyps, refs))}  # sorted ids: file order


def test_joint_resampling_keeps_correlated_languages_together():
    """Two languages as hard on the same sentences: drawn jointly their mean moves as one language does;
    drawn independently (other ids) their errors partly cancel and the interval is too narrow."""
    hyps, refs = outputs(MIXED)
    joint = bootstrap.mean_interval("chrf", {"a": rows(MIXED), "b": rows(MIXED)})
    apart = bootstrap.mean_interval("chrf", {"a": rows(MIXED), "b": rows(MIXED, prefix="other-")})
    assert joint["joint"] and not apart["joint"] and apart["resampling"].startswith("independent")
    assert joint["ci95"] == bootstrap.interval("chrf", hyps, refs)  # the same draw for both: the mean of equals
    assert width(joint["ci95"]) > 1.2 * width(apart["ci95"])
    assert joint["sentences"] == 24 and joint["languages"] == ["a", "b"] and joint["resamples"] == 1000
    assert bootstrap.mean_interval("chrf", {"a": {}}) is None


def test_joint_resampling_does_not_depend_on_file_order():
    forward = rows(MIXED)
    backward = dict(reversed(list(forward.items())))
    assert (bootstrap.mean_interval("chrf", {"a": forward, "b": rows([not q for q in MIXED])})["ci95"]
            == bootstrap.mean_interval("chrf", {"a": backward, "b": rows([not q for q in MIXED])})["ci95"])


def fake_evaluation(folder: Path, languages: dict[str, list[bool]]) -> dict[str, dict]:
    """A reused flores_en evaluation written before intervals: results.json's per-language results
    without them, and predictions/<lang>.jsonl with every output and reference."""
    results = {}
    for lang, quality in languages.items():
        hyps, refs = outputs(quality)
        predictions = [{"id": f"flores_en/{lang}/test/{i}", "input": "x", "output": h, "reference": r}
                       for i, (h, r) in enumerate(zip(hyps, refs))]
        (folder / "predictions").mkdir(parents=True, exist_ok=True)
        (folder / "predictions" / f"{lang}.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
        results[lang] = {"n": len(quality), "chrf": text_metrics.chrf(hyps, refs), "bleu": 0.0}
    return results


def test_compare_fills_reused_evaluations_and_draws_the_averages(tmp_path):
    task = get_task("flores_en")
    langs = {"eng_Latn": [True] * 24, "yor_Latn": MIXED, "hau_Latn": [not q for q in MIXED]}
    results, record = with_intervals(tmp_path, fake_evaluation(tmp_path, langs), task)
    assert all("chrf_ci95" in r and "bleu_ci95" in r for r in results.values())
    hyps, refs = outputs(MIXED)
    assert results["yor_Latn"]["chrf_ci95"] == bootstrap.interval("chrf", hyps, refs)
    assert set(record) == {"average_chrf_ci95", "low_resource_chrf_ci95", "average_intervals"}
    low = record["average_intervals"]["low_resource"]
    assert low["languages"] == ["yor_Latn", "hau_Latn"] and low["joint"]
    mean_low = (results["yor_Latn"]["chrf"] + results["hau_Latn"]["chrf"]) / 2
    assert record["low_resource_chrf_ci95"][0] < mean_low < record["low_resource_chrf_ci95"][1]
    again = with_intervals(tmp_path, fake_evaluation(tmp_path, langs), task)
    assert again == (results, record)
    assert interval_keys(results, "chrf", record)["chrf_ci95"]["yor_Latn"] == results["yor_Latn"]["chrf_ci95"]


def test_evaluate_writes_the_same_average_intervals_as_compare(tmp_path):
    """`layerbridge evaluate`'s results.json (write_generation_evaluation) carries the averages' joint
    intervals that compare draws for the same predictions."""
    from layerbridge.reporting.tables import write_generation_evaluation

    task = get_task("flores_en")
    langs = {"eng_Latn": [True] * 24, "yor_Latn": MIXED, "hau_Latn": [not q for q in MIXED]}
    _, record = with_intervals(tmp_path / "compared", fake_evaluation(tmp_path / "compared", langs), task)
    results = fake_evaluation(tmp_path / "compared", langs)
    for lang in results:
        rows = (tmp_path / "compared" / "predictions" / f"{lang}.jsonl").read_text().splitlines()
        results[lang] |= {"predictions": [json.loads(row) for row in rows], "empty_outputs": 0,
                          "exact_match": 0.0}
    summary = write_generation_evaluation(tmp_path / "evaluated", results, task=task, meta={})
    assert summary["low_resource_chrf_ci95"] == record["low_resource_chrf_ci95"]
    assert summary["average_intervals"]["low_resource"]["languages"] == ["yor_Latn", "hau_Latn"]
    written = json.loads((tmp_path / "evaluated" / "results.json").read_text())["summary"]
    assert written["average_chrf_ci95"] == record["average_chrf_ci95"]


def test_compare_keeps_intervals_it_has_and_leaves_classification_alone(tmp_path):
    results = fake_evaluation(tmp_path, {"yor_Latn": MIXED})
    results["yor_Latn"]["chrf_ci95"] = [1.0, 2.0]
    kept, _ = with_intervals(tmp_path, results, get_task("flores_en"))
    assert kept["yor_Latn"]["chrf_ci95"] == [1.0, 2.0]
    assert with_intervals(tmp_path, {"yor_Latn": {"accuracy": 0.5}}, get_task("sib200")) == (
        {"yor_Latn": {"accuracy": 0.5}}, {})
    (tmp_path / "predictions" / "yor_Latn.jsonl").unlink()  # predictions gone: nothing to draw from
    assert with_intervals(tmp_path, {"yor_Latn": {"chrf": 3.0}}, get_task("flores_en")) == (
        {"yor_Latn": {"chrf": 3.0}}, {})


def flores_doc(seed: int, scores: dict[str, float], *, intervals: bool) -> dict:
    """A minimal flores_en compare.json with one run and the zero-shot reference row."""
    run = {"results": {lang: {"chrf": s, **({"chrf_ci95": [s - 2, s + 3]} if intervals else {})}
                       for lang, s in scores.items()}}
    zero = {"chrf": {lang: s / 2 for lang, s in scores.items()}}
    if intervals:
        run.update({"average_chrf_ci95": [10.0, 20.0], "low_resource_chrf_ci95": [11.0, 19.0],
                    "average_intervals": {"low_resource": {"joint": True, "resamples": 1000}}})
        zero["chrf_ci95"] = {lang: [s / 2 - 1, s / 2 + 1] for lang, s in scores.items()}
    return {"task": "flores_en", "metric": "chrf", "reference_lang": "eng_Latn", "languages": list(scores),
            "low_resource": list(scores)[1:], "eval_limit": 64 if intervals else 16, "train_config": {"seed": seed},
            "runs": {"gs": run}, "references": {"LLM alone, zero-shot": zero}}


def test_report_shows_intervals_when_the_documents_have_them(tmp_path):
    scores = {"eng_Latn": 70.0, "yor_Latn": 12.0, "hau_Latn": 18.0}
    lines = generation_report.final_block([flores_doc(0, scores, intervals=True)], tmp_path, tmp_path / "doc.md")
    assert "| yor_Latn (low) | 12.0 [10.0, 15.0] | 6.0 [5.0, 7.0] |" in lines
    assert "| **low-resource average** | **15.0 [11.0, 19.0]** | **7.5** |" in lines
    assert "| **average** | **33.3 [10.0, 20.0]** | **16.7** |" in lines
    assert "95% bootstrap interval" in lines[0] and "same sentence ids in every language" in lines[0]
    two = generation_report.final_block([flores_doc(0, scores, intervals=True), flores_doc(
        1, {lang: s + 2 for lang, s in scores.items()}, intervals=True)], tmp_path, tmp_path / "doc.md")
    assert "| yor_Latn (low) | 13.0 ± 1.0 [11.0, 16.0] | 6.5 ± 0.5 [5.5, 7.5] |" in two
    assert "averaged over the seeds" in two[0]
    targets = generation_report.targets_block([flores_doc(0, scores, intervals=True)])
    assert targets[2].startswith("| 0 | gs | 15.0 [11.0, 19.0] | 70.0 | 21% |")


def test_report_without_intervals_renders_as_before(tmp_path):
    scores = {"eng_Latn": 70.0, "yor_Latn": 12.0, "hau_Latn": 18.0}
    lines = generation_report.final_block([flores_doc(0, scores, intervals=False)], tmp_path, tmp_path / "doc.md")
    assert not any("[" in line for line in lines[1:-1]) and "| yor_Latn (low) | 12.0 | 6.0 |" in lines
    assert lines[0] == ("Seeds [0], 16 test sentences per language (the same ids in every language), chrF++ "
                        "(mean ± half-range over seeds).")
    assert generation_report.targets_block([flores_doc(0, scores, intervals=False)])[2].startswith(
        "| 0 | gs | 15.0 | 70.0 | 21% |")
    mixed = [flores_doc(0, scores, intervals=True), flores_doc(1, scores, intervals=False)]
    assert "| yor_Latn (low) | 12.0 ± 0.0 | 6.0 ± 0.0 |" in generation_report.final_block(mixed, tmp_path, tmp_path)


@pytest.mark.skipif(not (REPO / "results/flores-en/seed0/compare.json").is_file(), reason="no committed flores_en run")
def test_committed_flores_en_table_is_unchanged(tmp_path):
    """The committed 16-sentence runs have no intervals: the block in docs/generation.md stays as it is."""
    page = (REPO / "docs/generation.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- generated: flores-en -->\n(.*?)\n<!-- end generated -->", page, re.S).group(1)
    lines = generation_report.final_block(generation_report.final_docs(REPO / "results"), tmp_path, tmp_path / "x.md")
    assert lines[:-1] == block.splitlines()[:-1]  # the plot's path is the one line that depends on where


def write_sentences(folder: Path, lang: str, ids: list[int]) -> None:
    (folder / "sib200" / lang).mkdir(parents=True)
    rows = [{"index_id": i, "category": "science/technology", "text": f"sentence {i} in {lang}"} for i in ids]
    (folder / "sib200" / lang / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_eval_subsample_keeps_the_same_ids_in_every_language(tmp_path):
    """One language's file in another order and missing a row: a positional draw would pick other
    sentences there; the draw on English, kept by id, picks the same ones."""
    ids = list(range(100, 160))
    write_sentences(tmp_path, "eng_Latn", ids)
    write_sentences(tmp_path, "yor_Latn", ids)
    write_sentences(tmp_path, "hau_Latn", list(reversed(ids)))
    write_sentences(tmp_path, "swh_Latn", [i for i in ids if i != 100])
    chosen = {lang: [e.row_id for e in load_examples("flores_en", lang, limit=16, data_dir=tmp_path, seed=3)]
              for lang in ("eng_Latn", "yor_Latn", "hau_Latn")}
    assert len(chosen["eng_Latn"]) == 16 and chosen["yor_Latn"] == chosen["eng_Latn"]
    assert sorted(chosen["hau_Latn"]) == sorted(chosen["eng_Latn"])
    with pytest.warns(UserWarning, match="1 of the 60 sampled ids are not in this language"):
        swh = load_examples("flores_en", "swh_Latn", limit=60, data_dir=tmp_path, seed=3)
    assert len(swh) == 59 and {e.row_id for e in swh} <= set(map(str, ids))
    yor = load_examples("flores_en", "yor_Latn", limit=16, data_dir=tmp_path, seed=3)
    assert all(e.target == f"sentence {e.row_id} in eng_Latn" for e in yor)


def two_evaluations(tmp_path: Path, first: list[bool], second: list[bool]) -> list[Path]:
    """Two flores_en evaluation folders of the same 24 sentences: English right in both, Yoruba (the
    low-resource language) as good as `first` and `second` say."""
    folders = []
    for name, quality in (("first", first), ("second", second)):
        folder = tmp_path / name
        results = fake_evaluation(folder, {"eng_Latn": [True] * 24, "yor_Latn": quality})
        (folder / "results.json").write_text(json.dumps({"languages": results, "summary": {
            "metric": "chrf", "low_resource_languages": ["yor_Latn"]}}))
        folders.append(folder)
    return folders


def test_the_paired_difference_interval_cancels_what_both_share(tmp_path):
    """Two evaluations of the same sentences: the same outputs differ by 0 exactly; a system right on
    more sentences is ahead with an interval above 0, narrower than the unpaired intervals suggest;
    other ids are refused. The tool reads two evaluation folders and writes the document."""
    from tools import paired_bootstrap

    worse, better = [i % 2 == 0 for i in range(24)], [i % 4 != 3 for i in range(24)]
    same = bootstrap.difference_interval("chrf", {"yor_Latn": rows(worse)}, {"yor_Latn": rows(worse)})
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0]
    ahead = bootstrap.difference_interval("chrf", {"a": rows(worse), "b": rows(worse)},
                                          {"a": rows(better), "b": rows(better)})
    assert ahead["ci95"][0] > 0 and ahead["ci95"][0] < ahead["difference"] < ahead["ci95"][1]
    apart = [bootstrap.interval("chrf", *outputs(q)) for q in (worse, better)]
    assert width(ahead["ci95"]) < width(apart[0]) + width(apart[1])
    with pytest.raises(ValueError, match="same sentence ids"):
        bootstrap.difference_interval("chrf", {"a": rows(worse)}, {"a": rows(better, prefix="other-")})
    folders = two_evaluations(tmp_path, worse, better)
    assert paired_bootstrap.main([str(folders[0]), str(folders[1]), "-o", str(tmp_path / "summary.json")]) == 0
    document = json.loads((tmp_path / "summary.json").read_text())
    assert document["low_resource"]["languages"] == ["yor_Latn"] and document["low_resource"]["difference"] > 0
    assert document["average"]["languages"] == ["eng_Latn", "yor_Latn"]


def test_committed_sentence_statistics_pair_as_the_evaluations_do(tmp_path):
    """A run whose predictions are gone pairs through its sentence statistics (counts and ids, no text):
    the same difference and interval as from the evaluation folders; a file of another kind, or of other
    sentences, is refused by name."""
    from tools import paired_bootstrap, sentence_statistics

    folders = two_evaluations(tmp_path, [i % 2 == 0 for i in range(24)], [i % 4 != 3 for i in range(24)])
    stats = tmp_path / "first-statistics.json"
    assert sentence_statistics.main([str(folders[0]), "-o", str(stats)]) == 0
    written = stats.read_text()
    assert "nothing of the kind" not in written and outputs([True])[1][0] not in written  # no text
    from_folders, from_file = paired_bootstrap.paired(*folders), paired_bootstrap.paired(stats, folders[1])
    for label in ("average", "low_resource"):
        assert from_file[label] == from_folders[label] and from_file[label]["difference"] > 0
    evaluated = json.loads((folders[1] / "results.json").read_text())["languages"]
    assert from_file["scores"]["second"] == pytest.approx({lang: r["chrf"] for lang, r in evaluated.items()}, abs=1e-3)
    assert paired_bootstrap.paired(stats, folders[0])["low_resource"]["difference"] == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(DataError, match="other.json: not a sentence-statistics file"):
        paired_bootstrap.paired(other, folders[1])
    document = json.loads(stats.read_text())
    document["languages"]["yor_Latn"]["ids"] = [f"x{i}" for i in document["languages"]["yor_Latn"]["ids"]]
    stats.write_text(json.dumps(document))
    with pytest.raises(DataError, match="same sentence ids"):
        paired_bootstrap.paired(stats, folders[1])
