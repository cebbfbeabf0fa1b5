"""Tasks and data (issue 3): built-in tasks on the shared offline data, sampling, user task files,
bad-data handling, the offline error and `layerbridge tasks`.

The shared data is read in place (LAYERBRIDGE_DATA_DIR or ../shared/data); nothing of it is
copied. Tests that need it are skipped when it is absent. Every other file is written to tmp_path.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections import Counter
from pathlib import Path

import pytest

from layerbridge.errors import ConfigError, DataError
from layerbridge.tasks import (
    SkippedRowsWarning,
    TrainFallbackWarning,
    available_languages,
    get_task,
    list_tasks,
    load_examples,
    load_train_dev,
    resolve_data_dir,
    split_train_dev,
    stratified_sample,
)
from layerbridge.tasks import hub as hub_mod
from layerbridge.tasks.base import Example
from layerbridge.tasks.sampling import dev_count, quotas

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shared() -> Path:
    path = Path(os.environ.get("LAYERBRIDGE_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (path / "xnli").is_dir():
        pytest.skip(f"no shared data folder at {path}")
    return path


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test may reach the hub: the probe always answers 'unreachable' unless a test says otherwise."""
    monkeypatch.setattr(hub_mod, "_probe", lambda timeout: False)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def counts(examples, task) -> dict[str, int]:
    c = Counter(task.label_words[e.label] for e in examples)
    return dict(c)


# ------------------------------------------------------------------------------ registry
def test_builtin_registry_and_prompts():
    assert list_tasks() == ["xnli", "indicxnli", "sinhala_news", "marc", "sib200", "flores_en"]
    xnli = get_task("xnli")
    assert xnli.prompt == "Premise: {premise} Hypothesis: {hypothesis} Label: "
    assert xnli.label_words == ["Entailment", "Neutral", "Contradiction"]
    assert len(xnli.languages) == 15 and xnli.eval_split == "test"
    assert get_task("indicxnli").languages == ["as", "bn", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te"]
    assert get_task("indicxnli").prompt == xnli.prompt
    news = get_task("sinhala_news")
    assert news.prompt == "News Sentence: {text} Category: "
    assert news.label_words == ["Business", "Entertainment", "Political", "Sports", "Science"]
    marc = get_task("marc")
    assert marc.prompt == "Review: {text} Label: "
    assert marc.label_words == ["Very Negative", "Negative", "Neutral", "Positive", "Very Positive"]
    assert marc.languages == ["de", "en", "es", "fr", "ja", "zh"] and marc.low_resource == []
    sib = get_task("sib200")
    assert sib.prompt == "Topic classification. Text: {text} Topic: "
    assert len(sib.languages) == len(set(sib.languages)) == 205
    assert set(sib.low_resource) <= set(sib.languages)
    assert {"sin_Sinh", "tam_Taml", "swh_Latn", "yor_Latn", "amh_Ethi"} <= set(sib.low_resource)
    assert "eng_Latn" not in sib.low_resource and "hin_Deva" not in sib.low_resource
    for name in list_tasks():
        t = get_task(name)
        assert t.metrics == (("chrf", "bleu", "exact_match") if t.is_generation else ("accuracy", "macro_f1"))
        assert set(t.low_resource) <= set(t.languages)
        assert t.render({f: "X" for f in t.text_fields}).startswith(t.prompt_prefix)
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        get_task("nope")
    # get_task hands out copies: a caller's edits do not leak into the registry
    get_task("marc").languages.append("xx")
    assert "xx" not in get_task("marc").languages


def test_label_index_rules():
    sib = get_task("sib200")
    assert sib.label_index("science/technology") == sib.label_words.index("Science")
    with pytest.raises(ValueError):
        sib.label_index("Science")  # with a label_map, only its keys are labels
    xnli = get_task("xnli")
    assert xnli.label_index(2) == 2 and xnli.label_index("1") == 1 and xnli.label_index("Neutral") == 1
    assert xnli.label_index(1.0) == 1
    for bad in (3, -1, True, None, "neutral", 1.5):
        with pytest.raises(ValueError):
            xnli.label_index(bad)


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"label_words": ["a", "a"]}, "label_words"),
        ({"label_words": []}, "label_words"),
        ({"label_map": {"x": "c"}}, "label_map.x"),
        ({"kind": "poem"}, "kind"),
        ({"kind": "generation", "label_words": []}, "target"),
        ({"kind": "generation", "label_words": [], "target": "{text}", "reference_lang": "en"}, "reference_lang"),
        ({"target": "{text}"}, "target"),
        ({"metrics": ("chrf",)}, "metrics"),
        ({"low_resource": ["fr"]}, "low_resource"),
        ({"train_fallback": ["test"]}, "train_fallback"),
        ({"on_empty_text": "drop"}, "on_empty_text"),
        ({"prompt": "no placeholder"}, "prompt"),
    ],
)
def test_task_rules_apply_to_every_task(fields, field):
    """The rules live in Task: a task built in Python breaks them as a task file does, naming the field."""
    from layerbridge.tasks import Task, TaskFieldError

    args = {"name": "t", "prompt": "{text}", "languages": ["en"], "train_lang": "en", "label_words": ["a", "b"]}
    with pytest.raises(TaskFieldError) as err:
        Task(**{**args, **fields})
    assert err.value.field == field and str(err.value).startswith(f"task 't': field '{field}': ")


def test_task_answers_about_its_rows():
    xnli, flores = get_task("xnli"), get_task("flores_en")
    assert xnli.required_columns("sw") == ["premise", "hypothesis", "label"] and xnli.headline_metric == "accuracy"
    assert xnli.answer({"premise": "p", "hypothesis": "h", "label": 2}, "sw") == (2, "")
    assert flores.paired_language("sin_Sinh") == "eng_Latn" and flores.paired_language("eng_Latn") is None
    assert flores.required_columns("sin_Sinh") == ["text", "index_id"] and not flores.holds_target("sin_Sinh")
    assert flores.answer({"text": " One. "}, "eng_Latn") == (-1, "One.") and flores.headline_metric == "chrf"
    with pytest.raises(ConfigError, match="on_empty must be 'skip' or 'error'"):
        xnli.empty_text_rule("drop")


def test_resolve_data_dir_precedence(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.delenv("LAYERBRIDGE_DATA_DIR", raising=False)
    assert resolve_data_dir() is None
    monkeypatch.setenv("LAYERBRIDGE_DATA_DIR", str(b))
    assert resolve_data_dir() == b
    assert resolve_data_dir(a) == a
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "missing")


# ------------------------------------------------------------------------------ shared data
README_COUNTS = {  # documented in ../shared/data/README.md
    "xnli": ({"validation": 2490, "test": 5010}, "ar bg de el en es fr hi ru sw th tr ur vi zh".split()),
    "sib200": (
        {"train": 701, "validation": 99, "test": 204},
        "eng_Latn fra_Latn spa_Latn deu_Latn ell_Grek bul_Cyrl rus_Cyrl tur_Latn arb_Arab vie_Latn tha_Thai "
        "zho_Hans hin_Deva swh_Latn urd_Arab asm_Beng ben_Beng guj_Gujr kan_Knda mal_Mlym mar_Deva ory_Orya "
        "pan_Guru tam_Taml tel_Telu npi_Deva sin_Sinh yor_Latn hau_Latn amh_Ethi zul_Latn khm_Khmr".split(),
    ),
    "marc": ({"test": 5000}, "de en es fr ja zh".split()),
    "sinhala_news": ({"test": 3325}, ["si"]),
}


@pytest.mark.data
@pytest.mark.parametrize("name", list(README_COUNTS))
def test_counts_per_language_and_split(shared, name):
    task = get_task(name)
    splits, langs = README_COUNTS[name]
    for lang in langs:
        for split, n in splits.items():
            assert len(load_examples(task, lang, split, data_dir=shared, source="local")) == n, (lang, split)


@pytest.mark.data
def test_english_train_counts(shared):
    def pool(name):
        train, dev = load_train_dev(name, data_dir=shared, source="local", dev_size=0)
        assert dev == []
        return train

    assert len(pool("marc")) == 12458
    assert len(pool("sinhala_news")) == 2225
    assert len(pool("sib200")) == 701


@pytest.mark.data
def test_label_distributions(shared):
    xnli = get_task("xnli")
    for lang in ("en", "sw", "zh"):
        assert counts(load_examples(xnli, lang, "test", data_dir=shared), xnli) == dict.fromkeys(xnli.label_words, 1670)
        assert counts(load_examples(xnli, lang, "validation", data_dir=shared), xnli) == dict.fromkeys(
            xnli.label_words, 830
        )
    sib = get_task("sib200")
    expected = {"Science": (176, 25, 51), "Travel": (138, 20, 40), "Politics": (102, 14, 30), "Sports": (85, 12, 25),
                "Health": (77, 11, 22), "Entertainment": (65, 9, 19), "Geography": (58, 8, 17)}  # fmt: skip
    for i, split in enumerate(("train", "validation", "test")):
        for lang in ("eng_Latn", "sin_Sinh"):
            got = counts(load_examples(sib, lang, split, data_dir=shared), sib)
            assert got == {k: v[i] for k, v in expected.items()}, (lang, split)
    news = get_task("sinhala_news")
    assert counts(load_examples(news, "si", data_dir=shared), news) == {
        "Business": 559, "Entertainment": 854, "Political": 457, "Sports": 1017, "Science": 438}  # fmt: skip
    train, _ = load_train_dev(news, data_dir=shared, dev_size=0)
    assert counts(train, news) == {
        "Business": 510, "Entertainment": 386, "Political": 417, "Sports": 511, "Science": 401}  # fmt: skip
    marc = get_task("marc")
    for lang in marc.languages:
        assert counts(load_examples(marc, lang, data_dir=shared), marc) == dict.fromkeys(marc.label_words, 1000)
    train, _ = load_train_dev(marc, data_dir=shared, dev_size=0)
    assert [counts(train, marc)[w] for w in marc.label_words] == [2489, 2482, 2486, 2503, 2498]


def _raw_rows(path: Path, n: int) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(next(fh)) for _ in range(n)]


@pytest.mark.data
@pytest.mark.parametrize(
    "name,lang,split,suffix",
    [
        ("xnli", "sw", "test", " Label: "),
        ("xnli", "en", "validation", " Label: "),
        ("sib200", "sin_Sinh", "test", " Topic: "),
        ("sib200", "eng_Latn", "train", " Topic: "),
        ("sinhala_news", "si", "test", " Category: "),
        ("sinhala_news", "en", "train", " Category: "),
        ("marc", "ja", "test", " Label: "),
        ("marc", "en", "train", " Label: "),
    ],
)
def test_rendered_prompts(shared, name, lang, split, suffix):
    task = get_task(name)
    examples = load_examples(task, lang, split, data_dir=shared, source="local")
    raws = _raw_rows(shared / name / lang / f"{split}.jsonl", 3)
    for ex, raw in zip(examples, raws):
        assert ex.text.startswith(task.prompt_prefix) and ex.text.endswith(suffix)
        assert ex.lang == lang and ex.id.startswith(f"{name}/{lang}/{split}/")
        for field in task.text_fields:
            assert raw[field].strip() in ex.text
        assert ex.label == task.label_index(raw[task.label_field])
    if name == "xnli":
        raw = raws[0]
        assert examples[0].text == f"Premise: {raw['premise']} Hypothesis: {raw['hypothesis']} Label: "


@pytest.mark.data
def test_indicxnli_is_hub_only_locally(shared):
    with pytest.raises(DataError, match=r"indicxnli/as/test\.jsonl.*not in the data folder.*unreachable"):
        load_examples("indicxnli", "as", data_dir=shared)
    with pytest.raises(DataError, match="not found in the data folder"):
        load_examples("indicxnli", "as", data_dir=shared, source="local")


@pytest.mark.data
def test_available_languages(shared, monkeypatch):
    monkeypatch.delenv("LAYERBRIDGE_DATA_DIR", raising=False)
    local = available_languages("sib200", data_dir=shared)
    assert len(local) == 32 and set(local) == set(README_COUNTS["sib200"][1])
    assert local == [lang for lang in get_task("sib200").languages if lang in local]  # task order
    assert available_languages("xnli", data_dir=shared, source="local") == get_task("xnli").languages
    assert len(available_languages("sib200", data_dir=shared, source="hub")) == 205
    assert available_languages("indicxnli", data_dir=shared) == get_task("indicxnli").languages  # hub only
    assert len(available_languages("sib200")) == 205  # no data folder: the hub has all
    with pytest.raises(DataError, match="no language has a test file"):
        available_languages("indicxnli", data_dir=shared, source="local")


@pytest.mark.data
def test_env_data_dir_selects_local(shared, monkeypatch):
    monkeypatch.setenv("LAYERBRIDGE_DATA_DIR", str(shared))
    assert len(load_examples("sib200", "yor_Latn")) == 204  # auto -> local, no hub involved


# ------------------------------------------------------------------------------ sampling
@pytest.mark.data
def test_dev_carveout_and_train_limit_stratified(shared):
    sib = get_task("sib200")
    train, dev = load_train_dev(sib, data_dir=shared, seed=0)
    assert len(dev) == 70 and len(train) == 631  # dev = min(1000, 10%) of 701
    assert counts(dev, sib) == {"Science": 18, "Travel": 14, "Politics": 10, "Sports": 8, "Health": 8,
                                "Entertainment": 6, "Geography": 6}  # fmt: skip
    assert not {e.id for e in train} & {e.id for e in dev}
    again_train, again_dev = load_train_dev(sib, data_dir=shared, seed=0)
    assert [e.id for e in again_dev] == [e.id for e in dev] and [e.id for e in again_train] == [e.id for e in train]
    _, other_dev = load_train_dev(sib, data_dir=shared, seed=1)
    assert [e.id for e in other_dev] != [e.id for e in dev]

    # train_limit: per-class proportional, dev unchanged by it, disjoint from dev
    small, dev2 = load_train_dev(sib, data_dir=shared, train_limit=100, seed=0)
    assert [e.id for e in dev2] == [e.id for e in dev]
    assert len(small) == 100 and not {e.id for e in small} & {e.id for e in dev}
    full = Counter(e.label for e in train)
    got = Counter(e.label for e in small)
    for c, n in full.items():
        assert abs(got[c] - 100 * n / len(train)) < 1

    marc_train, marc_dev = load_train_dev("marc", data_dir=shared, train_limit=5000, seed=3)
    assert len(marc_dev) == 1000 and len(marc_train) == 5000
    assert all(990 <= n <= 1010 for n in Counter(e.label for e in marc_train).values())


@pytest.mark.data
def test_eval_limit_stratified_and_parallel(shared):
    a = load_examples("xnli", "sw", limit=300, data_dir=shared, seed=5)
    b = load_examples("xnli", "ur", limit=300, data_dir=shared, seed=5)
    assert Counter(e.label for e in a) == {0: 100, 1: 100, 2: 100}
    # the label column is identical across XNLI languages, so the same seed picks the same rows
    assert [e.id.split("/")[-1] for e in a] == [e.id.split("/")[-1] for e in b]
    assert load_examples("xnli", "sw", limit=300, data_dir=shared, seed=5) == a
    assert load_examples("xnli", "sw", limit=300, data_dir=shared, seed=6) != a
    assert len(load_examples("sinhala_news", "si", limit=10_000, data_dir=shared)) == 3325


def test_quotas_and_sampling_units():
    assert quotas({0: 176, 1: 138, 2: 102, 3: 85, 4: 77, 5: 65, 6: 58}, 70) == {
        0: 18, 1: 14, 2: 10, 3: 8, 4: 8, 5: 6, 6: 6}  # fmt: skip
    assert sum(quotas({0: 5, 1: 3, 2: 1}, 4).values()) == 4
    assert dev_count(701, None) == 70 and dev_count(701, 0) == 0
    assert dev_count(701, "auto") == 70 and dev_count(392_702, "auto") == 1000 and dev_count(100, 0.25) == 25
    with pytest.raises(ConfigError):
        dev_count(10, 10)
    ex = [Example(id=str(i), text="t", label=i % 3, lang="en") for i in range(30)]
    s = stratified_sample(ex, 9, seed=1)
    assert Counter(e.label for e in s) == {0: 3, 1: 3, 2: 3}
    assert [int(e.id) for e in s] == sorted(int(e.id) for e in s)  # input order kept
    train, dev = split_train_dev(ex, dev_size=6, train_limit=12, seed=0)
    assert len(dev) == 6 and len(train) == 12 and not set(map(id, train)) & set(map(id, dev))


# ------------------------------------------------------------------------------ MNLI fallback
@pytest.mark.data
def test_mnli_fallback_warning(shared):
    with pytest.warns(TrainFallbackWarning, match=r"xnli/en/train\.jsonl.*xnli/en/validation\.jsonl"):
        train, dev = load_train_dev("xnli", data_dir=shared)
    assert len(train) + len(dev) == 2490 and len(dev) == 249
    assert all(e.id.startswith("xnli/en/validation/") for e in train + dev)  # never a test row
    assert Counter(e.label for e in dev) == {0: 83, 1: 83, 2: 83}
    with pytest.warns(TrainFallbackWarning):  # indicxnli trains on the xnli English data
        itrain, _ = load_train_dev("indicxnli", data_dir=shared)
    assert [e.id for e in itrain] == [e.id for e in train]


def test_fallback_never_uses_test(tmp_path):
    d = tmp_path / "data" / "xnli" / "en"
    d.mkdir(parents=True)
    (d / "test.jsonl").write_text('{"premise": "a", "hypothesis": "b", "label": 0}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"no English training data.*train\.jsonl.*validation\.jsonl"):
        load_train_dev("xnli", data_dir=tmp_path / "data")


# ------------------------------------------------------------------------------ offline
def test_offline_without_data_folder_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("LAYERBRIDGE_DATA_DIR", raising=False)
    for call in (lambda: load_examples("xnli", "sw"), lambda: load_train_dev("sib200")):
        with pytest.raises(DataError) as err:
            call()
        msg = str(err.value)
        assert "unreachable" in msg and "--data-dir" in msg and "LAYERBRIDGE_DATA_DIR" in msg
        assert "docs/tasks.md" in msg
    with pytest.raises(DataError, match="needs a data folder"):
        load_examples("xnli", "sw", source="local")


def test_hub_code_path_with_a_fake_datasets(monkeypatch):
    """The real hub path (datasets.load_dataset) with the loader replaced: args and column renames."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return [
            {"sentence": "Shares rose sharply.", "label": "Business"},
            {"sentence": "\u200d", "label": "Sports"},
            {"sentence": "The team won.", "label": "Sports"},
        ]

    monkeypatch.setattr(hub_mod, "_probe", lambda timeout: True)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.delenv("LAYERBRIDGE_DATA_DIR", raising=False)
    with pytest.warns(SkippedRowsWarning, match=r"skipped 1 row.*rows 2"):
        ex = load_examples("sinhala_news", "si")
    assert calls == [("Themira/en_si_news_classification_with_label_name", None, "test_si")]
    assert [e.text for e in ex] == ["News Sentence: Shares rose sharply. Category: ", "News Sentence: The team won. Category: "]
    assert [e.label for e in ex] == [0, 3]
    calls.clear()
    monkeypatch.setattr(
        datasets, "load_dataset",
        lambda path, name=None, split=None: calls.append((path, name, split)) or [
            {"index_id": 7, "category": "travel", "text": "Go by boat."}],
    )  # fmt: skip
    (ex,) = load_examples("sib200", "fij_Latn", source="hub")
    assert calls == [("Davlan/sib200", "fij_Latn", "test")]
    assert ex.id == "sib200/fij_Latn/test/7" and ex.text == "Topic classification. Text: Go by boat. Topic: "


# ------------------------------------------------------------------------------ user task files
def _write_user_data(root: Path) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    rows = [{"uid": f"r{i}", "review": f"review number {i}", "stars": "pos" if i % 2 else "neg"} for i in range(20)]
    (root / "data" / "en_train.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    (root / "data" / "si_test.csv").write_text(
        'uid,review,stars\na1,"හොඳයි, ""ඉතා"" හොඳයි",pos\na2,නරකයි,neg\na3,"two\nlines",pos\n', encoding="utf-8"
    )
    (root / "data" / "ta_test.tsv").write_text("uid\treview\tstars\nb1\tநல்லது\tpos\nb2\tமோசம்\tneg\n", encoding="utf-8")


USER_SPEC = {
    "name": "my_reviews",
    "description": "binary sentiment",
    "prompt": "Review: {review} Sentiment: ",
    "label_words": ["Negative", "Positive"],
    "label_field": "stars",
    "label_map": {"neg": "Negative", "pos": "Positive"},
    "id_field": "uid",
    "train_language": "en",
    "languages": ["si", "ta"],
    "low_resource": ["si", "ta"],
    "files": {
        "en": {"train": "data/en_train.jsonl"},
        "si": {"test": "data/si_test.csv"},
        "ta": {"test": "data/ta_test.tsv"},
    },
}


def _write_spec(root: Path, spec: dict, kind: str) -> Path:
    if kind == "json":
        path = root / "task.json"
        path.write_text(json.dumps(spec, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        import yaml

        path = root / "task.yaml"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_user_task_end_to_end(tmp_path, kind):
    _write_user_data(tmp_path)
    path = _write_spec(tmp_path, USER_SPEC, kind)
    task = get_task(str(path))
    assert task.name == "my_reviews" and task.text_fields == ("review",) and task.low_resource == ["si", "ta"]
    train, dev = load_train_dev(task, dev_size=4, train_limit=10, seed=0)
    assert len(dev) == 4 and len(train) == 10
    assert Counter(e.label for e in train) == {0: 5, 1: 5} and Counter(e.label for e in dev) == {0: 2, 1: 2}
    si = load_examples(task, "si")
    assert [e.id for e in si] == ["my_reviews/si/test/a1", "my_reviews/si/test/a2", "my_reviews/si/test/a3"]
    assert si[0].text == 'Review: හොඳයි, "ඉතා" හොඳයි Sentiment: ' and si[0].label == 1
    assert si[2].text == "Review: two\nlines Sentiment: "
    ta = load_examples(task, "ta", "test")
    assert [(e.text, e.label) for e in ta] == [("Review: நல்லது Sentiment: ", 1), ("Review: மோசம் Sentiment: ", 0)]
    with pytest.raises(ConfigError, match="no hub source"):
        load_examples(task, "si", source="hub")
    with pytest.raises(ConfigError, match="no language 'fr'"):
        load_examples(task, "fr")


def test_user_task_int_labels_without_map(tmp_path):
    (tmp_path / "tr.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": "Yes"}\n', encoding="utf-8")
    (tmp_path / "te.csv").write_text("text,label\nc,0\n", encoding="utf-8")
    spec = {"name": "yn", "prompt": "Q: {text} A: ", "label_words": ["No", "Yes"], "train_language": "en",
            "languages": ["en"], "files": {"en": {"train": "tr.jsonl", "test": "te.csv"}}}  # fmt: skip
    task = get_task(_write_spec(tmp_path, spec, "yaml"))
    train, _ = load_train_dev(task, dev_size=0)
    assert [e.label for e in train] == [1, 1]
    assert [e.label for e in load_examples(task, "en")] == [0]


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"prompt": None}, "prompt", "missing"),
        ({"prompt": "Review: {body} Sentiment: "}, "files.en.train", "no column 'body'"),
        ({"prompt": "Review: {review Sentiment: "}, "prompt", "malformed template"),
        ({"prompt": "Review: Sentiment: "}, "prompt", "no {field} placeholder"),
        ({"label_map": {"neg": "Negative", "pos": "Good"}}, "label_map.pos", "not one of label_words"),
        ({"label_field": "rating"}, "files.en.train", "no column 'rating'"),
        ({"text_fields": ["review", "title"]}, "text_fields", "must match the prompt"),
        ({"low_resource": ["fr"]}, "low_resource", "not in languages"),
        ({"label_words": ["Negative", "Negative"]}, "label_words", "repeated"),
        ({"files": {"en": {"train": "data/en_train.jsonl"}, "si": {"test": "data/nope.csv"},
                    "ta": {"test": "data/ta_test.tsv"}}}, "files.si.test", "not found"),  # fmt: skip
        ({"files": {"en": {"train": "data/en_train.jsonl"}, "si": {"test": "data/si_test.csv"}}},
         "files.ta.test", "no test file"),  # fmt: skip
        ({"files": {"si": {"test": "data/si_test.csv"}, "ta": {"test": "data/ta_test.tsv"}}},
         "files.en.train", "training file"),  # fmt: skip
        ({"train_split": "test"}, "files.en.test", "training file"),
        ({"on_empty_text": "drop"}, "on_empty_text", "'skip' or 'error'"),
    ],
)
@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_user_task_validation(tmp_path, kind, change, field, message):
    _write_user_data(tmp_path)
    spec = {**USER_SPEC, **change}
    spec = {k: v for k, v in spec.items() if v is not None}
    path = _write_spec(tmp_path, spec, kind)
    with pytest.raises(ConfigError) as err:
        get_task(path)
    msg = str(err.value)
    assert str(path) in msg and field in msg and message in msg, msg


@pytest.mark.parametrize(
    "change,field",
    [
        ({"train_language": 3}, "train_language"),  # Task's train_lang, named as in the file
        ({"train_split": "dev"}, "files.en.dev"),  # the training file is missing
        ({"reference_language": "si"}, "reference_language"),  # a classification task has no target
        ({"label_words": None}, "label_words"),  # required of a classification task, by Task
    ],
)
def test_user_task_errors_use_the_file_names(tmp_path, change, field):
    _write_user_data(tmp_path)
    spec = {k: v for k, v in {**USER_SPEC, **change}.items() if v is not None}
    path = _write_spec(tmp_path, spec, "yaml")
    with pytest.raises(ConfigError) as err:
        get_task(path)
    assert str(err.value).startswith(f"{path}: field '{field}': "), str(err.value)


def test_user_task_file_syntax_errors(tmp_path):
    bad_yaml = tmp_path / "t.yaml"
    bad_yaml.write_text("name: x\nprompt: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.yaml:\d+: invalid YAML"):
        get_task(bad_yaml)
    bad_json = tmp_path / "t.json"
    bad_json.write_text('{"name": "x",\n "prompt": }', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.json:2: invalid JSON"):
        get_task(bad_json)
    with pytest.raises(ConfigError, match="not found"):
        get_task(tmp_path / "missing.yaml")


# ------------------------------------------------------------------------------ bad data
def _marc_dir(tmp_path: Path, test_bytes: bytes, name: str = "test.jsonl") -> tuple[Path, Path]:
    root = tmp_path / "data"
    d = root / "marc" / "de"
    d.mkdir(parents=True)
    f = d / name
    f.write_bytes(test_bytes)
    return root, f


GOOD = '{"id": "1", "text": "gut", "label": 4}\n'


@pytest.mark.parametrize(
    "content,line,pattern",
    [
        (GOOD + '{"id": "2", "label": 1}\n', 2, "missing field 'text'"),
        (GOOD + '{"id": "2", "text": "ok"}\n', 2, "missing field 'label'"),
        (GOOD + '{"text": "ok", "label": 1}\n', 2, "missing field 'id'"),
        (GOOD + GOOD.replace('"1"', '"2"') + '{"id": "3", "text": "x", "label": 5}\n', 3, "field 'label': label 5"),
        (GOOD + '{"id": "2", "text": "x", "label": "great"}\n', 2, "field 'label': label .great. is neither"),
        (GOOD + '{"id": "2", "text": null, "label": 1}\n', 2, "field 'text' is null"),
        (GOOD + '{"id": "2", "text": 17, "label": 1}\n', 2, "field 'text' must be text"),
        (GOOD + '{"id": "1", "text": "noch mal", "label": 1}\n', 2, "field 'id': duplicate id '1' \\(first at line 1\\)"),
        (GOOD + '{"id": "2", "text": "x", "label": 1\n', 2, "invalid JSON"),
        (GOOD + "[1, 2]\n", 2, "expected a JSON object"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, content, line, pattern):
    root, f = _marc_dir(tmp_path, content.encode("utf-8"))
    with pytest.raises(DataError, match=f"^{f}:{line}: .*{pattern}"):
        load_examples("marc", "de", data_dir=root)


def test_undecodable_bytes(tmp_path):
    root, f = _marc_dir(tmp_path, GOOD.encode() + b'{"id": "2", "text": "caf\xe9", "label": 1}\n')
    with pytest.raises(DataError, match=rf"^{f}:2: undecodable bytes \(not UTF-8\) at byte 25 of the line: e9"):
        load_examples("marc", "de", data_dir=root)


@pytest.mark.parametrize("blank", ["", "   ", "\t\n ", "\u200d", "\u200b \ufeff"])
def test_empty_text_is_skipped_with_a_count_or_an_error(tmp_path, blank):
    rows = [GOOD, json.dumps({"id": "2", "text": blank, "label": 0}) + "\n", GOOD.replace('"1"', '"3"')]
    root, f = _marc_dir(tmp_path, "".join(rows).encode("utf-8"))
    with pytest.warns(SkippedRowsWarning, match=rf"{f}: skipped 1 row\(s\) with empty text \(lines 2\); kept 2"):
        ex = load_examples("marc", "de", data_dir=root)
    assert [e.id for e in ex] == ["marc/de/test/1", "marc/de/test/3"]
    with pytest.raises(DataError, match=rf"^{f}:2: field 'text' is empty"):
        load_examples("marc", "de", data_dir=root, on_empty="error")


def test_clean_data_gives_no_warning(tmp_path):
    root, _ = _marc_dir(tmp_path, (GOOD + "\n\n" + GOOD.replace('"1"', '"2"')).encode())  # blank lines ignored
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex = load_examples("marc", "de", data_dir=root)
    assert [e.id for e in ex] == ["marc/de/test/1", "marc/de/test/2"]


def test_bad_csv_and_tsv(tmp_path):
    root, f = _marc_dir(tmp_path, b"id,text,label\n1,gut,4\n2,zu,viele,3\n", "test.csv")
    with pytest.raises(DataError, match=rf"^{f}:3: 4 cells but the header has 3 columns"):
        load_examples("marc", "de", data_dir=root)
    f.unlink()
    t = f.with_name("test.tsv")
    t.write_bytes(b"id\ttext\tlabel\n1\tgut\t4\n2\t\xff\t3\n")
    with pytest.raises(DataError, match=rf"^{t}:3: undecodable bytes"):
        load_examples("marc", "de", data_dir=root)
    t.write_bytes(b"id\ttext\n1\tgut\n")
    with pytest.raises(DataError, match=rf"^{t}:2: missing field 'label'"):
        load_examples("marc", "de", data_dir=root)
    # a quoted cell spanning two lines: later rows still report the line where they start
    t.write_text('id\ttext\tlabel\n1\t"a\nb"\t4\n2\t   \t3\n3\tok\t9\n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{t}:5: field 'label'"):
        load_examples("marc", "de", data_dir=root)
    t.write_text('id\ttext\tlabel\n1\t"a\nb"\t4\n2\t   \t3\n3\tok\t1\n', encoding="utf-8")
    with pytest.warns(SkippedRowsWarning, match=r"skipped 1 row\(s\) with empty text \(lines 4\); kept 2"):
        assert [e.text for e in load_examples("marc", "de", data_dir=root)] == ["Review: a\nb Label: ", "Review: ok Label: "]


def test_ambiguous_local_files(tmp_path):
    root, f = _marc_dir(tmp_path, GOOD.encode())
    f.with_name("test.csv").write_text("id,text,label\n1,gut,4\n", encoding="utf-8")
    with pytest.raises(DataError, match="more than one file"):
        load_examples("marc", "de", data_dir=root)


# ------------------------------------------------------------------------------ CLI
def _run_tasks_cmd(argv: list[str]) -> int:
    from layerbridge.cli import tasks_cmd

    parser = argparse.ArgumentParser()
    tasks_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["tasks", *argv])
    return args.func(args)


@pytest.mark.data
def test_tasks_command_overview(shared, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert _run_tasks_cmd(["--data-dir", str(shared)]) == 0
    out = capsys.readouterr().out
    for name in list_tasks():
        assert name in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│") and line.split("│")[1].strip()}  # noqa: E501
    assert "found" in lines["xnli"] and "en validation (fallback)" in out
    assert "missing" in lines["indicxnli"] and "hub only" in out
    assert "found" in lines["sinhala_news"] and "found" in lines["marc"]
    assert "32 of 205 languages" in lines["sib200"]
    assert "unreachable" in lines["xnli"]


@pytest.mark.data
def test_tasks_command_detail(shared, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert _run_tasks_cmd(["--data-dir", str(shared), "--task", "sib200", "--no-hub-check"]) == 0
    out = capsys.readouterr().out
    assert "train 701, validation 99, test 204" in out
    assert "Topic classification. Text: {text} Topic: " in out
    row = next(line for line in out.splitlines() if "sin_Sinh" in line)
    assert "yes" in row and "local" in row


def test_tasks_command_without_sources(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("LAYERBRIDGE_DATA_DIR", raising=False)
    assert _run_tasks_cmd([]) == 0
    out = capsys.readouterr().out
    assert "No data source is available" in out and "LAYERBRIDGE_DATA_DIR" in out and "docs/tasks.md" in out
