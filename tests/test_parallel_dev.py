"""--dev-languages (tasks/parallel_dev.py): flores_en's held-out dev rows read in other languages, each with
its English text as target, from the same rows of SIB-200's files; the BBC rows (no parallels) left out;
files that do not line up, missing languages and tasks without parallel training text refused by name."""

import json
from pathlib import Path

import pytest
from tiny_models import save_tiny_models

from layerbridge.bridge import LayerBridge
from layerbridge.bridge.hub import model_card
from layerbridge.cli.compare_cmd import build_compare_config
from layerbridge.compare.recipe import load_inputs
from layerbridge.cli.main import main, parse_args
from layerbridge.cli.train_cmd import train_config_from_args
from layerbridge.errors import ConfigError, DataError
from layerbridge.tasks import get_task, load_train_dev
from layerbridge.training.config import TrainConfig

ENGLISH = ["One.", "Two.", "Three.", "Four.", "Five.", "Six."]
OTHER = {"swh_Latn": [f"Moja {i}." for i in range(6)], "sin_Sinh": [f"එක {i}." for i in range(6)]}


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def data(tmp_path):
    """SIB-200 train and validation in English and two languages (the same index_id per row, shuffled ids
    as the real files have), and English BBC news."""
    ids = [40, 7, 19, 3, 88, 51]
    for lang, texts in {"eng_Latn": ENGLISH, **OTHER}.items():
        write_rows(tmp_path / "sib200" / lang / "train.jsonl",
                   [{"index_id": i, "category": "travel", "text": t} for i, t in zip(ids[:4], texts[:4])])
        write_rows(tmp_path / "sib200" / lang / "validation.jsonl",
                   [{"index_id": i, "category": "travel", "text": t} for i, t in zip(ids[4:], texts[4:])])
    write_rows(tmp_path / "sinhala_news" / "en" / "train.jsonl", [{"text": f"News {i}.", "label": "Sports"} for i in range(6)])
    return tmp_path


def test_dev_rows_are_read_in_each_language_with_their_english_target(data):
    task = get_task("flores_en")
    train, english = load_train_dev(task, data_dir=data, source="local", dev_size=6, seed=1)
    _, dev = load_train_dev(task, data_dir=data, source="local", dev_size=6, seed=1, dev_languages=["swh_Latn", "sin_Sinh"])
    parallel = [e for e in english if not e.target.startswith("News")]
    assert parallel and len(parallel) < len(english)  # the seed carves both kinds of rows; the BBC ones are left out
    assert [e.lang for e in dev] == ["swh_Latn"] * len(parallel) + ["sin_Sinh"] * len(parallel)
    for lang in OTHER:
        rows = [e for e in dev if e.lang == lang]
        assert [e.target for e in rows] == [e.target for e in parallel]
        assert [e.text for e in rows] == [OTHER[lang][ENGLISH.index(e.target)] for e in parallel]
        assert all(e.id.startswith(f"flores_en/{lang}/dev/sib200.") for e in rows)
    assert not {e.target for e in train} & {e.target for e in dev}  # still held out


def test_rows_that_do_not_line_up_or_are_missing_are_named(data):
    task = get_task("flores_en")
    rows = [json.loads(line) for line in (data / "sib200" / "swh_Latn" / "train.jsonl").read_text().splitlines()]
    rows[0], rows[1] = rows[1], rows[0]
    write_rows(data / "sib200" / "swh_Latn" / "train.jsonl", rows)
    with pytest.raises(DataError, match=r"swh_Latn/train.jsonl:[12]: index_id .* is not the English row's"):
        load_train_dev(task, data_dir=data, source="local", dev_size=11, dev_languages=["swh_Latn"])
    write_rows(data / "sib200" / "swh_Latn" / "train.jsonl", rows[1:2])  # the first row only, in its place
    with pytest.raises(DataError, match=r"swh_Latn/train.jsonl:[234]: no 'text' text for the dev row"):
        load_train_dev(task, data_dir=data, source="local", dev_size=11, dev_languages=["swh_Latn"])
    with pytest.raises(DataError, match=r"zul_Latn/train.jsonl: not found in the data folder \(the dev rows in zul_Latn, --dev-languages\)"):
        load_train_dev(task, data_dir=data, source="local", dev_size=11, dev_languages=["zul_Latn"])


def test_languages_and_tasks_without_parallel_training_text_are_refused(data):
    with pytest.raises(ConfigError, match="has no language 'xx_Latn'"):
        load_train_dev("flores_en", data_dir=data, source="local", dev_size=6, dev_languages=["xx_Latn"])
    with pytest.raises(ConfigError, match="--dev-languages: task 'sib200' has no English training text with the same rows"):
        load_train_dev("sib200", data_dir=data, source="local", dev_size=2, dev_languages=["swh_Latn"])


def test_training_logs_each_dev_language_and_keeps_the_best_mean(data, tmp_path):
    """`layerbridge train --dev-languages`: every dev score logs each language's chrF++ and their mean, the
    mean is what --keep-best goes by, and the setting is saved with the run (and read back by --config)."""
    enc, llm = save_tiny_models(tmp_path / "models")
    out = tmp_path / "run"
    assert main(["train", "--encoder", str(enc), "--llm", str(llm), "--task", "flores_en", "--data-dir", str(data),
                 "--source", "local", "--fusion", "global_softmax", "--dev-size", "6", "--batch-size", "2",
                 "--max-steps", "3", "--lr", "1e-2", "--eval-every", "1", "--keep-best", "--dev-limit", "2",
                 "--dev-languages", "swh_Latn,sin_Sinh", "--max-new-tokens", "4", "-o", str(out)]) == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    scored = [e for e in log if "dev_chrf" in e]
    assert [e["step"] for e in scored] == [1, 2, 3]
    for entry in scored:
        assert list(entry["dev_chrf_languages"]) == ["swh_Latn", "sin_Sinh"]
        assert entry["dev_chrf"] == pytest.approx(sum(entry["dev_chrf_languages"].values()) / 2, abs=1e-4)
    summary = json.loads((out / "train_summary.json").read_text())
    best = max(scored, key=lambda e: (e["dev_chrf"], -e["step"]))
    assert summary["dev_chrf"] == best["dev_chrf"] and summary["dev_chrf_languages"] == best["dev_chrf_languages"]
    _, dev = load_train_dev("flores_en", data_dir=data, source="local", dev_size=6, dev_languages=["swh_Latn"])
    assert summary["dev_examples"] == len(dev) < 6  # rows, each counted once; the BBC ones left out
    assert summary["dev_languages"] == TrainConfig.load(out).dev_languages == ["swh_Latn", "sin_Sinh"]
    card = model_card(LayerBridge.from_pretrained(out), out)
    assert "the best dev score (the mean over the dev set read in swh_Latn, sin_Sinh)" in card
    rerun = parse_args(["train", "--config", str(out / "train_config.json"), "-o", str(tmp_path / "rerun")])
    assert train_config_from_args(rerun, output_dir="x").dev_languages == ["swh_Latn", "sin_Sinh"]


def test_compare_demo_and_a_config_file_take_the_dev_languages(tmp_path):
    """The flag is a train option: compare and demo build their runs with it (repeatable and comma lists
    both), and so does a config file."""
    args = parse_args(["compare", "--task", "flores_en", "-o", str(tmp_path / "x"), "--dev-languages", "swh_Latn, hin_Deva",
                       "--dev-languages", "urd_Arab"])
    assert build_compare_config(args, languages=["eng_Latn"]).train.dev_languages == ["swh_Latn", "hin_Deva", "urd_Arab"]
    args = parse_args(["demo", "--task", "flores_en", "--dev-languages", "swh_Latn"])
    assert args.dev_languages == ["swh_Latn"]
    config = tmp_path / "config.yaml"
    config.write_text("task: flores_en\noutput-dir: runs/x\ndev-languages: [swh_Latn, urd_Arab]\n")
    args = parse_args(["compare", "--config", str(config)])
    assert build_compare_config(args, languages=["eng_Latn"]).train.dev_languages == ["swh_Latn", "urd_Arab"]


def test_compare_warns_when_a_dev_language_is_also_evaluated(data):
    """Allowed, but said: the dev set then chooses the weights for that test language."""
    args = parse_args(["compare", "--task", "flores_en", "--data-dir", str(data), "--source", "local", "-o", "x",
                       "--dev-size", "6", "--dev-languages", "swh_Latn"])
    cfg = build_compare_config(args, languages=["swh_Latn"])
    with pytest.warns(UserWarning, match="--dev-languages swh_Latn are also evaluated"), \
            pytest.raises(DataError, match="sib200/swh_Latn/test"):  # warned before the test rows are read
        load_inputs(cfg)


def test_the_setting_is_a_list_of_codes_each_scored_once():
    assert TrainConfig(dev_languages=["swh_Latn", "hin_Deva", "swh_Latn"]).dev_languages == ["swh_Latn", "hin_Deva"]
    with pytest.raises(ConfigError, match="dev_languages must be a list of language codes"):
        TrainConfig(dev_languages="swh_Latn")
