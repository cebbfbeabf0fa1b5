"""studies/generation/content_recall.py: which of the references' numbers, names and other words the
outputs keep. A copy keeps all; an output about something else keeps only the shared words; the
control scores each output against the other sentences' references; bad folders and rows are named."""
import json

import pytest

from layerbridge.errors import DataError
from studies.generation.content_recall import measure, recall, reference_kinds, words

REFERENCES = ["In 1977 Carter met Kissinger in Paris.", "The storm hit Manila on 12 May, he said.",
              "Prices rose by 3 percent in the year."]


def evaluated_run(root, outputs: dict[str, list[str]], name="eval-not-in-xnli"):
    """A run folder as `layerbridge evaluate` leaves it: results.json and predictions/<lang>.jsonl."""
    folder = root / name
    (folder / "predictions").mkdir(parents=True)
    for lang, texts in outputs.items():
        rows = [{"id": f"flores_en/{lang}/test/{i}", "input": "...", "output": out, "reference": ref}
                for i, (out, ref) in enumerate(zip(texts, REFERENCES))]
        (folder / "predictions" / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    low = [lang for lang in outputs if lang != "eng_Latn"]
    (folder / "results.json").write_text(json.dumps({"task": "flores_en", "limit": 3, "languages": {l: {} for l in outputs},
                                                     "summary": {"low_resource_languages": low}}))
    return root


def test_numbers_and_names_are_told_from_the_other_words():
    kinds = reference_kinds('In 1977 Carter met Kissinger. "Never," he said: The 10:00am talks')
    assert kinds["numbers"] == {"1977", "10", "00am"}
    assert kinds["names"] == {"carter", "kissinger"}  # "In", "Never", "The" start a sentence or quote
    assert kinds["words"] == {"in", "met", "never", "he", "said", "the", "talks"}
    # a stop after an initial or a title ends no sentence; an all-capital word is a name anywhere
    assert reference_kinds("The U.S. Army met Dr. Smith (UN) at 3 p.m. Monday.")["names"] == {"army", "dr", "smith", "un", "monday"}


def test_recall_is_pooled_over_sentences_and_empty_kinds_are_none():
    pairs = [({"1977"}, reference_kinds("Born in 1977.")), (set(), reference_kinds("From 1 to 2, then 3."))]
    scores = recall(pairs)
    assert scores["numbers"]["recall"] == 0.25  # 1 of 4 numbers, not the mean of 1/1 and 0/3
    assert scores["names"] == {"recall": None, "recall_other": None, "reference_words": 0}
    # against the other sentence's reference: "1977" is none of 1, 2, 3; nothing is found of "born in 1977"
    assert scores["numbers"]["recall_other"] == 0.0
    assert scores["words"]["recall_other"] == 0.0


def test_a_copy_keeps_everything_and_another_sentence_only_shared_words(tmp_path):
    other = ["The storm hit Manila on 12 May, he said.", "Prices rose by 3 percent in the year.",
             "In 1977 Carter met Kissinger in Paris."]  # every output is the next sentence's reference
    result = measure(evaluated_run(tmp_path, {"eng_Latn": REFERENCES, "sin_Sinh": other}))
    copy, shifted = result["languages"]["eng_Latn"], result["languages"]["sin_Sinh"]
    assert all(copy[kind]["recall"] == 1.0 for kind in ("numbers", "names", "words"))
    assert copy["numbers"]["reference_words"] == 3 and copy["names"]["reference_words"] == 5  # 1977, 12, 3; Carter .. May
    assert shifted["numbers"]["recall"] == 0.0 and shifted["names"]["recall"] == 0.0

    def shared(shift: int) -> float:  # reference j's words found in reference j + shift, pooled
        found = sum(len(reference_kinds(REFERENCES[j])["words"] & words(REFERENCES[(j + shift) % 3])) for j in range(3))
        return found / copy["words"]["reference_words"]

    assert shifted["words"]["recall"] == shared(1) > 0  # "in", "the" ... are shared
    # the control: every output against both other references, pooled
    assert copy["words"]["recall_other"] == pytest.approx((shared(1) + shared(2)) / 2)
    # the control of the copy is what any other sentence's reference shares: no number, no name
    assert copy["numbers"]["recall_other"] == 0.0 and copy["names"]["recall_other"] == 0.0
    assert result["summary"]["low_resource_languages"] == ["sin_Sinh"]
    assert result["summary"]["low_resource"]["words"]["recall"] == shifted["words"]["recall"]


def test_the_evaluation_read_is_named_when_there_are_two(tmp_path):
    evaluated_run(tmp_path, {"eng_Latn": REFERENCES})
    evaluated_run(tmp_path, {"eng_Latn": REFERENCES}, name="eval-generation")
    with pytest.raises(DataError, match="2 eval-\\* folders with predictions"):
        measure(tmp_path)
    assert measure(tmp_path, "eval-generation")["evaluation"] == "eval-generation"
    with pytest.raises(DataError, match="eval-missing: no predictions"):
        measure(tmp_path, "eval-missing")


def test_a_bad_prediction_row_is_named_by_file_and_line(tmp_path):
    evaluated_run(tmp_path, {"eng_Latn": REFERENCES})
    path = tmp_path / "eval-not-in-xnli" / "predictions" / "eng_Latn.jsonl"
    path.write_text(path.read_text() + '{"output": "no reference"}\n')
    with pytest.raises(DataError, match="eng_Latn.jsonl, line 4"):
        measure(tmp_path)


def test_the_report_sets_the_bridges_side_by_side(tmp_path):
    from test_bitext import fake_bitext_seed
    from tools import generation_report, run_record

    folder = tmp_path / "bitext" / "seed0"
    fake_bitext_seed(folder, 0, {"eng_Latn": 70.0, "sin_Sinh": 15.0}, {"eng_Latn": 68.0, "sin_Sinh": 21.0})
    assert generation_report.recall_block(tmp_path)[0].startswith("(not measured yet")
    for run, outputs in (("english-only", {"eng_Latn": REFERENCES, "sin_Sinh": ["", "", ""]}),
                         ("stage2", {"eng_Latn": REFERENCES, "sin_Sinh": REFERENCES})):
        evaluated_run(folder / run, outputs)
        recall = measure(folder / run)
        (folder / run / "content-recall").mkdir()
        (folder / run / "content-recall" / "results.json").write_text(json.dumps(recall))
        record = json.loads((folder / run / run_record.RECORD).read_text())
        record["diagnostics"] = run_record.diagnostics(folder / run)
        (folder / run / run_record.RECORD).write_text(json.dumps(record))
    lines = generation_report.recall_block(tmp_path)
    assert "hold 3 numbers, 5 names" in lines[0]
    assert lines[2] == "| reference words | English only | stage 2 (from the 200-step stage 1) |"
    assert "| numbers, low-resource average (1) | 0% (0%) | 100% (0%) |" in lines
    assert "| names, English (the copy) | 100% (0%) | 100% (0%) |" in lines
