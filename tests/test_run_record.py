"""One JSON per run (tools/run_record.py): a run folder's files folded into run.json, and the
generation study's table read from it (tools/generation_report.py)."""

import json

from tools import generation_report, run_record


def write(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def fake_run(folder):
    bridge = {"fusion": "global_softmax", "layers": "upper_half", "projector": "linear", "projector_init": "lexical",
              "llm_input": "soft+instruction", "chat_template": False, "center_languages": False}
    write(folder / "train_config.json", {"bridge": bridge, "learning_rate": 1e-3, "fusion_learning_rate": 1e-6})
    write(folder / "train_summary.json", {"steps": 300, "final_loss": 0.7, "dev_chrf": 79.5})
    for name, chrf in (("eval-quick", 10.0), ("eval-quick-norepeat3", 12.0)):
        write(folder / name / "results.json", {
            "languages": {lang: {"chrf": chrf} for lang in generation_report.STUDY_LANGS},
            "summary": {"low_resource_languages": ["swh_Latn", "sin_Sinh"]},
            "decoding": {"no_repeat_ngram_size": 3} if "norepeat" in name else {}})
    (folder / "train_log.jsonl").write_text('{"step": 1}\n')


def test_fold_keeps_every_json_of_the_run_but_the_log(tmp_path):
    run = tmp_path / "upper_lex"
    fake_run(run)
    write(run / "layer_weights.json", {"mean_weights": [0.5, 0.5]})
    write(run / "soft-token-reach" / "results.json", {"summary": {"low_resource_reach": 0.2}})
    write(run / "checkpoint" / "results.json", {"not": "folded"})
    record = run_record.load(run_record.write(run).parent)
    assert record["train"] == json.loads((run / "train_summary.json").read_text())
    assert record["train_config"]["bridge"]["fusion"] == "global_softmax"
    assert sorted(record["evaluations"]) == ["eval-quick", "eval-quick-norepeat3"]
    assert record["layer_weights"] == {"mean_weights": [0.5, 0.5]}
    assert record["diagnostics"] == {"soft-token-reach": {"summary": {"low_resource_reach": 0.2}}}  # named ones only
    assert "train_log" not in json.dumps(record)


def test_generation_study_table_reads_run_json_only(tmp_path):
    run = tmp_path / generation_report.STUDY / "upper_lex"
    fake_run(run)
    run_record.write(run)
    expected = generation_report.study_block(tmp_path)
    for path in [p for p in run.rglob("*") if p.is_file() and p.name != "run.json"]:
        path.unlink()
    assert generation_report.study_block(tmp_path) == expected
    rows = expected[2:]
    assert len(rows) == 2 and rows[0].startswith("| `upper_lex` |") and "no-repeat 3-grams" in rows[1]
    assert rows[1].endswith("| 12.0 |")
