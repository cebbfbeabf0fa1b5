"""Bitext (X -> English pairs) as a user generation task (docs/tasks.md, "Bitext"), on tiny random models:
one training file of many languages (train language `mul`) trains with foreign text as the encoder input
and English as the target, the lexical start fitted on the English side; the XNLI bitext writer
(studies/generation/xnli_bitext.py) on a made-up XNLI folder pairs, dedups, holds out by premise and
refuses what is not parallel; a bridge whose training (or whose stage-1 bridge's) saw a task's data
(`derived_from`) is refused evaluation on that task, on the command line, in Python and in compare."""

import json

import pytest
import yaml

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.lineage import refuse_seen
from layerbridge.cli.main import main
from layerbridge.errors import ConfigError, DataError
from layerbridge.tasks import get_task, load_train_dev
from layerbridge.tasks.builtin import XNLI_LANGS
from layerbridge.training.config import TrainConfig

from tiny_models import save_tiny_models, save_tiny_news

from studies.generation import xnli_bitext

# Made-up pairs: (language, source text, English)
PAIRS = [
    ("si", "ශ්‍රී ලංකා කණ්ඩායම ජයග්‍රහණය කළේය.", "The Sri Lankan team won."),
    ("si", "නව දුරකථනය අද නිකුත් විය.", "The new phone was released today."),
    ("sw", "Timu ilishinda kombe.", "The team won the cup."),
    ("sw", "Bunge lilipitisha bajeti.", "Parliament passed the budget."),
    ("de", "Die Mannschaft hat gewonnen.", "The team has won."),
    ("de", "Das neue Telefon ist da.", "The new phone is here."),
]


def write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def save_bitext_task(root, derived_from=("xnli",)):
    """A bitext task file over PAIRS: one training file of three languages (train language mul), a
    held-out file per language."""
    rows = [{"id": f"{lang}/{i}", "lang": lang, "text": text, "english": english}
            for i, (lang, text, english) in enumerate(PAIRS * 3)]
    write_rows(root / "bitext.jsonl", rows)
    for lang in ("si", "sw"):
        write_rows(root / "dev" / f"{lang}.jsonl", [r for r in rows[:6] if r["lang"] == lang])
    spec = {"name": "tiny_bitext", "kind": "generation", "prompt": "{text}", "target_field": "english",
            "instruction": "Translate into English: ", "max_target_length": 16, "id_field": "id",
            "derived_from": list(derived_from), "train_language": "mul", "languages": ["si", "sw"],
            "eval_split": "dev", "files": {"mul": {"train": "bitext.jsonl"}, "si": {"dev": "dev/si.jsonl"},
                                           "sw": {"dev": "dev/sw.jsonl"}}}
    path = root / "bitext.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Tiny models; stage 1 trained 2 steps on the bitext; stage 2 trained 2 steps on the tiny news task
    from it."""
    root = tmp_path_factory.mktemp("bitext")
    enc, llm = save_tiny_models(root)
    bitext, news = save_bitext_task(root), save_tiny_news(root)
    models = ["--encoder", str(enc), "--llm", str(llm), "--fusion", "global_softmax", "--batch-size", "4",
              "--max-steps", "2", "--llm-input", "soft+instruction", "--instruction", "Translate into English: "]
    stage1, stage2 = root / "stage1", root / "stage2"
    assert main(["train", *models, "--task", str(bitext), "--dev-size", "0", "-o", str(stage1)]) == 0
    assert main(["train", *models, "--task", str(news), "--dev-size", "3", "--init-from", str(stage1),
                 "-o", str(stage2)]) == 0
    return root, models, bitext, news, stage1, stage2, (enc, llm)


# ------------------------------------------------------------------ bitext as a task file
def test_a_bitext_file_of_many_languages_trains_foreign_text_into_english(stages, monkeypatch):
    import layerbridge.bridge.lexical_init as lexical_init
    from layerbridge.training.recipe import setup

    root, _, bitext, _, stage1, _, (enc, llm) = stages
    task = get_task(str(bitext))
    assert task.train_lang == "mul" and task.derived_from == ["xnli"] and task.is_generation
    fitted = []
    real_fit = lexical_init.fit_lexical_projector
    monkeypatch.setattr(lexical_init, "fit_lexical_projector",
                        lambda bridge, texts: fitted.extend(texts) or real_fit(bridge, texts))
    config = BridgeConfig.for_task(task, encoder=str(enc), llm=str(llm), fusion="global_softmax",
                                   projector_init="lexical")
    run = setup(TrainConfig(task=str(bitext), output_dir=str(root / "lexical"), dev_size=0, batch_size=4,
                            max_steps=2, bridge=config))
    pairs = {(text, english) for _, text, english in PAIRS}
    assert {(e.text, e.target) for e in run.train_examples} == pairs  # encoder: the source; LLM: its English
    assert {e.text for e in run.train_examples} & {english for _, _, english in PAIRS} == set()
    assert fitted and set(fitted) <= {english for _, _, english in PAIRS}  # the lexical start read English
    assert run.bridge.config.llm_input == "soft+instruction"
    assert run.bridge.config.instruction == "Translate into English: "
    saved = json.loads((stage1 / "bridge_config.json").read_text())
    assert saved["trained_on"] == [{"task": "tiny_bitext", "task_file": str(bitext), "derived_from": ["xnli"]}]
    assert json.loads((stage1 / "train_summary.json").read_text())["train_examples"] == len(PAIRS) * 3


def test_the_bitext_held_out_pairs_are_evaluated_per_language(stages):
    _, _, _, _, stage1, _, _ = stages
    assert main(["evaluate", str(stage1), "--max-new-tokens", "4"]) == 0
    results = json.loads((stage1 / "eval-tiny_bitext-generation" / "results.json").read_text())
    assert set(results["languages"]) == {"si", "sw"} and all(r["n"] == 2 for r in results["languages"].values())


def test_derived_from_is_checked(tmp_path):
    bad = save_bitext_task(tmp_path, derived_from=("xnli", "xnli"))
    with pytest.raises(ConfigError, match="derived_from.*repeated"):
        get_task(str(bad))
    itself = save_bitext_task(tmp_path, derived_from=("tiny_bitext",))
    with pytest.raises(ConfigError, match="derived_from.*the task itself"):
        get_task(str(itself))


# ------------------------------------------------------------------ the guard
def test_a_bitext_task_named_after_its_source_family_is_still_evaluated_on_itself():
    """`xnli_bitext` (studies/generation/xnli_bitext.py) looks like a harness task of the xnli family by
    its name; the bridge trained on it (and the stage 2 from it) may still be evaluated on its held-out
    premises, never on xnli or a harness xnli task."""
    from types import SimpleNamespace

    stage1 = [{"task": "xnli_bitext", "task_file": "/b/bitext.yaml", "derived_from": ["xnli", "indicxnli"]}]
    for trained_on in (stage1, [*stage1, {"task": "flores_en", "task_file": None, "derived_from": []}]):
        config = SimpleNamespace(trained_on=trained_on)
        refuse_seen(config, "xnli_bitext")
        refuse_seen(config, "flores_en")
        for seen in ("xnli", "xnli_sw", "indicxnli"):
            with pytest.raises(ConfigError, match=f"may not be evaluated on {seen}: .*'xnli_bitext'"):
                refuse_seen(config, seen)
    # a stage 2 trained on xnli itself from the xnli bitext: its own entry does not excuse the stage 1's
    config = SimpleNamespace(trained_on=[*stage1, {"task": "xnli", "task_file": None, "derived_from": []}])
    with pytest.raises(ConfigError, match="may not be evaluated on xnli: .*'xnli_bitext'"):
        refuse_seen(config, "xnli")


def test_evaluate_refuses_a_task_the_bridge_saw(stages, capsys):
    root, _, bitext, _, stage1, _, _ = stages
    capsys.readouterr()
    assert main(["evaluate", str(stage1), "--task", "xnli", "--languages", "sw", "-o", str(root / "x1")]) == 2
    err = capsys.readouterr().err
    assert "may not be evaluated on xnli" in err and str(stage1) in err and str(bitext) in err, err
    assert not (root / "x1").exists()
    assert main(["evaluate", str(stage1), "--task", "XNLI", "--languages", "sw", "-o", str(root / "x1")]) == 2


def test_a_stage_two_bridge_is_refused_for_what_its_stage_one_saw(stages, capsys):
    root, _, bitext, news, stage1, stage2, _ = stages
    record = json.loads((stage2 / "bridge_config.json").read_text())["trained_on"]
    assert [entry["task"] for entry in record] == ["tiny_bitext", "tiny_news"]
    assert record[0]["bridge"] == str(stage1) and "bridge" not in record[1]
    capsys.readouterr()
    assert main(["evaluate", str(stage2), "--task", "xnli", "--languages", "sw", "-o", str(root / "x2")]) == 2
    err = capsys.readouterr().err
    assert f"which trained the stage-1 bridge {stage1}" in err and str(bitext) in err, err
    bridge = LayerBridge.from_pretrained(stage2)
    from layerbridge.evaluation.recipe import evaluate

    with pytest.raises(ConfigError, match="may not be evaluated on xnli"):
        evaluate(bridge, get_task("xnli"), ["sw"])  # the Python path: before any data is read
    refuse_seen(bridge.config, "flores_en")  # what it did not see is allowed
    refuse_seen(bridge.config, "indicxnli")  # this file names xnli only
    with pytest.raises(ConfigError, match="may not be evaluated on xnli_sw"):
        refuse_seen(bridge.config, "xnli_sw")  # an lm-evaluation-harness task of the xnli family (lm-eval)
    assert main(["evaluate", str(stage2), "--task", str(news), "-o", str(root / "news-eval")]) == 0
    from layerbridge.bridge.hub import model_card

    card = model_card(bridge, stage2)
    assert "## Data it saw" in card and "`tiny_bitext`" in card and "`xnli`" in card
    from layerbridge.bridge.lineage import card_lines

    assert card_lines(BridgeConfig(trained_on=[{"task": "tiny_news", "task_file": None, "derived_from": []}])) == []


def test_a_three_stage_chain_keeps_every_stage(stages):
    from layerbridge.bridge.lineage import trained_on

    _, _, _, news, _, stage2, _ = stages
    chain = trained_on(get_task(str(news)), BridgeConfig.load(stage2), "runs/stage2")
    assert [(e["task"], e.get("bridge")) for e in chain] == [
        ("tiny_bitext", str(stages[4])), ("tiny_news", "runs/stage2"), ("tiny_news", None)]
    old = BridgeConfig.load(stage2)
    old.trained_on = None  # a stage-1 bridge saved before the record: named, its task unknown
    assert trained_on(get_task(str(news)), old, "old")[0] == {"task": None, "task_file": None, "derived_from": [],
                                                               "bridge": "old"}


def test_compare_refuses_before_training_from_a_stage_one_that_saw_the_task(stages, tmp_path, capsys):
    root, models, _, _, stage1, _, _ = stages
    named_xnli = save_tiny_news(tmp_path)
    named_xnli.write_text(named_xnli.read_text(encoding="utf-8").replace("name: tiny_news", "name: xnli"),
                          encoding="utf-8")
    out = tmp_path / "compare"
    capsys.readouterr()
    assert main(["compare", *[m for m in models if m not in ("--fusion", "global_softmax")], "--task",
                 str(named_xnli), "--fusions", "global_softmax", "--dev-size", "3", "--init-from", str(stage1),
                 "--references", "", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"a bridge started from {stage1} may not be evaluated on xnli" in err, err
    assert not list(out.rglob("bridge.safetensors"))


# ------------------------------------------------------------------ the XNLI bitext writer
def fake_xnli(root, premises=4, drop=None, relabel=None):
    """xnli/<lang>/validation.jsonl for XNLI's 15 languages: `premises` premises, three rows each."""
    for lang in XNLI_LANGS:
        rows = [{"premise": f"{lang} premise {p}" if lang != "en" else f"English premise {p}.",
                 "hypothesis": f"{lang} hypothesis {p}.{h}", "label": h} for p in range(premises) for h in range(3)]
        if lang == drop:
            rows = rows[:-1]
        if lang == relabel:
            rows[4]["label"] = 2
        write_rows(root / "xnli" / lang / "validation.jsonl", rows)
    return root


def test_the_writer_pairs_each_premise_with_its_english_row_once(tmp_path, capsys):
    data, out = fake_xnli(tmp_path / "data", premises=8), tmp_path / "out"
    assert xnli_bitext.main(["--data-dir", str(data), "-o", str(out), "--dev-fraction", "0.25"]) == 0
    printed = capsys.readouterr().out
    assert "sw: 6 training pairs, 2 held out" in printed and "all: 84 training pairs, 28 held out" in printed
    train = [json.loads(line) for line in (out / "bitext.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(train) == 14 * 6  # 24 rows per language: 8 premises once each, minus the 2 held out
    assert all(row["text"] == f"{row['lang']} premise {row['english'].split()[-1][:-1]}" for row in train)
    assert len({(row["text"], row["english"]) for row in train}) == len(train)
    dev = {lang: [json.loads(line) for line in (out / "dev" / f"{lang}.jsonl").read_text().splitlines()]
           for lang in xnli_bitext.SOURCE_LANGS}
    held = {row["english"] for row in dev["sw"]}
    assert len(held) == 2 and all({row["english"] for row in rows} == held for rows in dev.values())
    assert held.isdisjoint(row["english"] for row in train)  # held out by premise, in every language
    task = get_task(str(out / "bitext.yaml"))
    assert task.train_lang == "mul" and task.languages == xnli_bitext.SOURCE_LANGS and "en" not in task.languages
    assert task.derived_from == ["xnli", "indicxnli"] and task.instruction == get_task("flores_en").instruction
    examples, _ = load_train_dev(task, dev_size=0)
    assert {(e.text, e.target) for e in examples} == {(row["text"], row["english"]) for row in train}


@pytest.mark.parametrize("broken, message", [
    ({"drop": "de"}, "row counts differ (ar 12, bg 12, de 11"),
    ({"relabel": "th"}, "th/validation.jsonl: row 5 has label 2"),
])
def test_the_writer_refuses_files_that_are_not_parallel(tmp_path, broken, message):
    data, out = fake_xnli(tmp_path / "data", **broken), tmp_path / "out"
    with pytest.raises(DataError) as err:
        xnli_bitext.write_bitext(data, out)
    assert message in str(err.value)
    assert not (out / "bitext.jsonl").exists()


def test_the_writer_refuses_a_folder_inside_the_repository(tmp_path):
    data = fake_xnli(tmp_path / "data")
    inside = xnli_bitext.REPOSITORY / "results" / "bitext-test"
    with pytest.raises(ConfigError, match="inside the repository"):
        xnli_bitext.write_bitext(data, inside)
    assert not inside.exists()
    with pytest.raises(DataError, match="xnli/sw/validation.jsonl: not found"):
        (data / "xnli" / "sw" / "validation.jsonl").unlink() or xnli_bitext.write_bitext(data, tmp_path / "out")


def test_the_languages_not_in_xnli_are_flores_low_resource_ones(tmp_path):
    for lang in ("eng_Latn", "swh_Latn", "urd_Arab", "hin_Deva", "sin_Sinh", "tam_Taml", "yor_Latn"):
        write_rows(tmp_path / "sib200" / lang / "test.jsonl", [{"index_id": 1, "category": "travel", "text": "x"}])
    assert xnli_bitext.languages_not_in_xnli(tmp_path) == ["sin_Sinh", "tam_Taml", "yor_Latn"]


def test_lm_eval_refuses_a_harness_task_of_what_the_stages_saw(stages, capsys):
    pytest.importorskip("lm_eval")
    root, _, _, _, _, stage2, _ = stages
    capsys.readouterr()
    assert main(["lm-eval", str(stage2), "--tasks", "xnli_sw", "-o", str(root / "lm-eval")]) == 2
    err = capsys.readouterr().err
    assert "may not be evaluated on xnli_sw" in err, err
    assert not (root / "lm-eval").exists()  # refused before any request or output


def fake_bitext_seed(folder, seed: int, english: dict, staged: dict) -> None:
    """The run.json files bitext.sh leaves in one seed's folder (per-language chrF++ with an interval)."""
    from tools import run_record

    def evaluation(scores: dict) -> dict:
        low = [lang for lang in scores if lang != "eng_Latn"]
        mean = sum(scores[lang] for lang in low) / len(low)
        return {"limit": 64, "languages": {lang: {"chrf": s, "chrf_ci95": [s - 2, s + 2]} for lang, s in scores.items()},
                "summary": {"low_resource_languages": low, "low_resource_chrf": mean,
                            "low_resource_chrf_ci95": [mean - 1, mean + 1]}}

    runs = {"stage1": {"train_config": {"seed": seed, "max_steps": 200, "batch_size": 8}, "train": {"steps": 200, "train_examples": 11032},
                       "evaluations": {"eval-heldout": {"summary": {"average_chrf": 40.0 + seed}}}}}
    for name, scores in (("english-only", english), ("stage2", staged)):
        runs[name] = {"train_config": {"seed": seed, "max_steps": 200}, "train": {"steps": 200},
                      "evaluations": {"eval-not-in-xnli": evaluation(scores)}}
    for name, record in runs.items():
        (folder / name).mkdir(parents=True)
        (folder / name / run_record.RECORD).write_text(json.dumps(record))


def test_the_bitext_report_sets_the_two_stage_bridge_beside_english_only(tmp_path):
    from tools import generation_report

    assert generation_report.bitext_block(tmp_path)[0].startswith("(no finished run yet")
    fake_bitext_seed(tmp_path / "bitext" / "seed0", 0, {"eng_Latn": 70.0, "sin_Sinh": 15.0, "yor_Latn": 11.0},
                     {"eng_Latn": 68.0, "sin_Sinh": 21.0, "yor_Latn": 13.0})
    fake_bitext_seed(tmp_path / "bitext" / "seed1", 1, {"eng_Latn": 72.0, "sin_Sinh": 17.0, "yor_Latn": 11.0},
                     {"eng_Latn": 70.0, "sin_Sinh": 23.0, "yor_Latn": 15.0})
    (tmp_path / "bitext" / "seed2" / "stage1").mkdir(parents=True)  # an unfinished seed is left out
    lines = generation_report.bitext_block(tmp_path)
    assert lines[0].startswith("Seeds [0, 1]; 64 test sentences") and "held-out premises 40.5 ± 0.5" in lines[0]
    assert "| sin_Sinh (low) | 16.0 ± 1.0 [14.0, 18.0] | 22.0 ± 1.0 [20.0, 24.0] | +6.0 |" in lines
    assert "| eng_Latn | 71.0 ± 1.0 [69.0, 73.0] | 69.0 ± 1.0 [67.0, 71.0] | -2.0 |" in lines
    assert lines[-1] == "| **low-resource average** | **13.5 ± 0.5 [12.5, 14.5]** | **18.0 ± 1.0 [17.0, 19.0]** | **+4.5** |"
    for seed, diff, ci in ((0, 4.0, [3.0, 6.0]), (1, 5.0, [4.0, 7.0])):  # tools/paired_bootstrap.py's summary.json
        folder = tmp_path / "bitext" / f"seed{seed}"
        (folder / "summary.json").write_text(json.dumps({"first": str(folder / "english-only" / "eval-not-in-xnli"),
                                                          "low_resource": {"difference": diff, "ci95": ci}}))
    lines = generation_report.bitext_block(tmp_path)
    assert lines[-3].endswith("| **+4.5 [+3.5, +6.5]** |") and lines[-1].startswith("The difference's interval is paired")


def test_the_stage1_budget_table_has_a_row_per_budget_and_reuses_the_english_only_run(tmp_path):
    """bitext.sh with STAGE1_STEPS into another OUT and ENGLISH_ONLY pointing at the first OUT's run:
    the budget table pairs the longer stage with that run (named by its summary.json, relative to the
    repository that holds results/), not a copy; runs of another seed are refused."""
    import shutil

    from tools import generation_report, run_record

    root = tmp_path / "results"
    assert generation_report.bitext_budget_block(root)[0].startswith("(no finished run yet")
    fake_bitext_seed(root / "bitext" / "seed0", 0, {"eng_Latn": 70.0, "sin_Sinh": 15.0, "yor_Latn": 11.0},
                     {"eng_Latn": 68.0, "sin_Sinh": 21.0, "yor_Latn": 13.0})
    longer = root / "bitext-stage1-1000" / "seed0"
    fake_bitext_seed(longer, 0, {"eng_Latn": 1.0, "sin_Sinh": 1.0, "yor_Latn": 1.0},
                     {"eng_Latn": 66.0, "sin_Sinh": 25.0, "yor_Latn": 17.0})
    shutil.rmtree(longer / "english-only")  # bitext.sh did not train it again
    record = json.loads((longer / "stage1" / run_record.RECORD).read_text())
    record["train"]["steps"] = 1000
    record["evaluations"]["eval-heldout"]["summary"]["average_chrf"] = 30.0
    (longer / "stage1" / run_record.RECORD).write_text(json.dumps(record))
    assert len(generation_report.bitext_budget_block(root)) == 3  # the 200-step row only: the longer one is unpaired
    summary = {"first": "results/bitext/seed0/english-only/eval-not-in-xnli", "low_resource": {"difference": 8.0, "ci95": [6.0, 10.0]}}
    (longer / "summary.json").write_text(json.dumps(summary))
    header, _, short, long = generation_report.bitext_budget_block(root)
    assert short == "| 200 (0.15) | 0 | 40.0 | 13.0 [12.0, 14.0] | 17.0 [16.0, 18.0] | +4.0 | 70.0 / 68.0 |"
    assert long == "| 1000 (0.73) | 0 | 30.0 | 13.0 [12.0, 14.0] | 21.0 [20.0, 22.0] | +8.0 [+6.0, +10.0] | 70.0 / 66.0 |"
    # the per-language table stays the bitext/ one
    assert generation_report.bitext_block(root)[-1].startswith("| **low-resource average** | **13.0")
    record["train_config"]["seed"] = 1
    (longer / "stage1" / run_record.RECORD).write_text(json.dumps(record))
    with pytest.raises(DataError, match="different seeds"):
        generation_report.bitext_budget_block(root)
    summary["first"] = "results/bitext/seed9/english-only/eval-not-in-xnli"
    (longer / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(DataError, match="no run.json in .*seed9/english-only"):
        generation_report.bitext_budget_block(root)
