"""English-only objectives beyond restating (issue 30; training/objectives.py) on tiny random models:
the continuation split (the encoder reads the first part of an English text, the LLM writes the rest)
and encoder token dropout (training only), their refusals, and how a run records them."""

import json

import pytest
import torch
from safetensors.torch import load_file

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main
from layerbridge.errors import ConfigError
from layerbridge.tasks import get_task, load_train_dev
from layerbridge.training.config import TrainConfig
from layerbridge.training.objectives import (MIN_SPLIT_WORDS, continuation_split, objective_examples,
                                             token_dropout_mask)

from tiny_models import save_tiny_models, save_tiny_news, tiny_encoder, tiny_llm, tiny_tokenizer

LONG = ["The match ended with a late goal and the fans cheered.", "Parliament passed the new budget after a long debate.",
        "The company reported higher profits this quarter.", "A new phone with a faster chip was released today.",
        "The film won three awards at the festival.", "Scientists measured the speed of the new chip.",
        "The president met party leaders about the election.", "The team won the cup after extra time."]
SHORT = ["Hello there.", "Good news today."]  # fewer than MIN_SPLIT_WORDS words: they keep restating


def write_task(folder, name="tiny_restate", target_field="text", rows=None):
    """A generation task file whose target restates its input (as flores_en's training text does)."""
    rows = rows or [{"text": t, "upper": t.upper()} for t in LONG + SHORT]
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {"name": name, "kind": "generation", "prompt": "{text}", "target_field": target_field,
            "train_language": "en", "languages": ["en"], "files": {"en": {"train": "train.jsonl", "test": "test.jsonl"}}}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("objectives")
    enc, llm = save_tiny_models(root)
    return root, enc, llm, write_task(root)


def train_config(tiny, out, **settings):
    root, enc, llm, task = tiny
    bridge = settings.pop("bridge", {})
    return TrainConfig(task=str(task), output_dir=str(root / out), dev_size=2, batch_size=4, max_steps=2,
                       learning_rate=1e-2, bridge=BridgeConfig(encoder=str(enc), llm=str(llm), fusion="global_softmax",
                                                              **bridge), **settings)


def first_step_loss(cfg) -> tuple[float, object]:
    """The mean training loss of step 0 (before its update) and the run."""
    from layerbridge.training.recipe import setup, train_step

    run = setup(cfg, overwrite=True)
    return train_step(run, 0)[0], run


# ---------------------------------------------------------------------------- the continuation split
def test_a_split_rejoins_to_the_text_and_reads_30_to_70_percent_of_its_words():
    for i, text in enumerate(LONG + ["one two three four", "a  b\tc\nd e f g h i j"]):
        first, rest = continuation_split(text, seed=0, example_id=f"t/en/train/{i}")
        assert first and rest and text.startswith(first) and text.endswith(rest)
        assert text[len(first):len(text) - len(rest)].isspace()  # cut at whitespace, which alone is dropped
        words, read = len(text.split()), len(first.split())
        assert 0.3 * words <= read <= 0.7 * words and read + len(rest.split()) == words
    assert continuation_split("one two three four", 0, "x") == ("one two", "three four")


def test_the_split_is_a_function_of_seed_and_example_id():
    text = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 w20"
    same = [continuation_split(text, 3, f"id{i}") for i in range(40)]
    assert same == [continuation_split(text, 3, f"id{i}") for i in range(40)]  # deterministic
    assert len({s[0] for s in same}) > 3  # the example id moves the split
    assert same != [continuation_split(text, 4, f"id{i}") for i in range(40)]  # and so does the seed


def test_short_texts_keep_restating_and_are_counted(tiny):
    task = get_task(str(tiny[3]))
    train, _ = load_train_dev(task, dev_size=2)
    examples, counts = objective_examples("continuation", task, train, seed=0)
    short = [e for e in train if len(e.text.split()) < MIN_SPLIT_WORDS]
    assert short and counts == {"continuation_split": len(train) - len(short), "continuation_restated": len(short)}
    for before, after in zip(train, examples):
        assert after.id == before.id
        if before in short:
            assert after == before
        else:
            assert after.text + " " + after.target == before.text and after.target != before.text
    assert all(e.target == e.text for e in train)  # the loaded examples (compare shares them) are left as they were
    assert objective_examples("restate", task, train, seed=0) == (train, {})


def test_continuation_is_refused_where_the_target_is_not_the_input(tiny, tmp_path, capsys):
    from layerbridge.training.recipe import setup

    root, enc, llm, _ = tiny
    news = save_tiny_news(tmp_path)
    cfg = TrainConfig(task=str(news), output_dir=str(tmp_path / "n"), objective="continuation", dev_size=3,
                      bridge=BridgeConfig(encoder=str(enc), llm=str(llm)))  # a valid setting ...
    with pytest.raises(ConfigError, match=r"objective='continuation': task 'tiny_news' is a classification task"):
        setup(cfg)  # ... that the recipe refuses for this task
    other = write_task(tmp_path, name="tiny_upper", target_field="upper")
    assert main(["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(other), "--objective", "continuation",
                 "-o", str(tmp_path / "u"), "--dev-size", "2"]) == 2
    assert "objective='continuation': the training target of task 'tiny_upper' is not its input" in capsys.readouterr().err
    assert not (tmp_path / "u" / "bridge.safetensors").exists()


@pytest.mark.parametrize("settings, name", [({"objective": "summarise"}, "objective"),
                                            ({"encoder_token_dropout": 1.0}, "encoder_token_dropout"),
                                            ({"encoder_token_dropout": -0.1}, "encoder_token_dropout")])
def test_invalid_settings_are_refused_naming_them(settings, name):
    with pytest.raises(ConfigError, match=f"{name}="):
        TrainConfig(**settings)


# ---------------------------------------------------------------------------- token dropout
def test_token_dropout_keeps_a_token_of_every_text_and_never_padding():
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1]])  # any padding side
    ids = ["a", "b", "c"]
    for step in range(50):
        read = token_dropout_mask(mask, ids, 0.95, seed=0, step=step)
        assert read.dtype == mask.dtype and bool((read <= mask).all())  # a subset of the real tokens
        assert bool((read.sum(1) >= 1).all())  # never every token of a text
    assert torch.equal(token_dropout_mask(mask, ids, 0.3, 0, 7), token_dropout_mask(mask, ids, 0.3, 0, 7))
    big = torch.ones(64, 50, dtype=torch.long)
    rows = [str(i) for i in range(64)]
    kept = token_dropout_mask(big, rows, 0.25, seed=1, step=0).float().mean().item()
    assert 0.7 < kept < 0.8
    assert not torch.equal(token_dropout_mask(big, rows, 0.25, 1, 0), token_dropout_mask(big, rows, 0.25, 1, 1))
    assert not torch.equal(token_dropout_mask(big, rows, 0.25, 1, 0), token_dropout_mask(big, rows, 0.25, 2, 0))
    # a row's draw depends on its example, not on its place in the batch (any micro-batching, any process)
    assert torch.equal(token_dropout_mask(big[:2], ["5", "9"], 0.25, 1, 0),
                       token_dropout_mask(big, rows, 0.25, 1, 0)[[5, 9]])


@pytest.mark.parametrize("injection", ["input", "cross_attention"])
def test_a_dropped_token_is_as_if_the_llm_never_read_it(injection):
    """read_mask leaves a position out of the soft tokens and of the cross-attention alike: the loss equals
    the loss on the encoder states with that position removed."""
    torch.manual_seed(0)
    bridge = LayerBridge(BridgeConfig(fusion="global_softmax", injection=injection), tiny_encoder(),
                         tiny_tokenizer("encoder"), tiny_llm(), tiny_tokenizer("llm"))
    with torch.no_grad():
        for name, p in bridge.injection.named_parameters():
            if "gate" in name:
                p.fill_(0.5)  # cross-attention starts closed (tanh 0): open it so it counts
    enc = bridge.tokenize(["The film won three awards at the festival."])
    states = bridge.encoder_states(**enc)  # (1, S, L, D)
    keep = torch.ones_like(enc["attention_mask"])
    keep[0, [2, 3, 5]] = 0
    target = bridge.target_ids(["The film won."])
    with torch.no_grad():
        dropped = bridge(target, attention_mask=enc["attention_mask"], encoder_states=states, read_mask=keep).loss
        removed = bridge(target, attention_mask=keep[:, keep[0].bool()], encoder_states=states[:, keep[0].bool()]).loss
        full = bridge(target, attention_mask=enc["attention_mask"], encoder_states=states).loss
    assert torch.allclose(dropped, removed, atol=1e-5) and not torch.allclose(dropped, full, atol=1e-4)


def test_token_dropout_changes_training_steps_not_evaluation_and_repeats_with_the_seed(tiny):
    plain, plain_run = first_step_loss(train_config(tiny, "plain"))
    dropped, run = first_step_loss(train_config(tiny, "drop", encoder_token_dropout=0.5))
    again, _ = first_step_loss(train_config(tiny, "drop-again", encoder_token_dropout=0.5))
    uncached, _ = first_step_loss(train_config(tiny, "drop-uncached", encoder_token_dropout=0.5, encoder_cache=False))
    other_seed, _ = first_step_loss(train_config(tiny, "drop-seed", encoder_token_dropout=0.5, seed=1))
    assert run.cache is not None and dropped != plain and dropped == again  # the seed decides the drop
    assert abs(uncached - dropped) < 1e-5  # the same drop whether the states come from the cache or the encoder
    assert other_seed != dropped
    fresh = setup_only(train_config(tiny, "eval-drop", encoder_token_dropout=0.5))
    fresh_plain = setup_only(train_config(tiny, "eval-plain"))
    texts = [e.text for e in fresh.dev_examples]
    with torch.no_grad():  # evaluation drops nothing: the same scores as the run without dropout
        assert torch.equal(fresh.bridge.loss(texts, texts).example_loss, fresh_plain.bridge.loss(texts, texts).example_loss)
        fresh.bridge.train()
        assert torch.equal(fresh.bridge.loss(texts, texts).example_loss, fresh_plain.bridge.loss(texts, texts).example_loss)


def test_token_dropout_trains_with_the_cross_attention_injection(tiny):
    plain, _ = first_step_loss(train_config(tiny, "x-plain", bridge={"injection": "cross_attention"}))
    dropped, run = first_step_loss(train_config(tiny, "x-drop", encoder_token_dropout=0.5,
                                                bridge={"injection": "cross_attention"}))
    assert run.cache is not None and torch.isfinite(torch.tensor(dropped)) and dropped != plain


def setup_only(cfg):
    from layerbridge.training.recipe import setup

    return setup(cfg, overwrite=True)


# ---------------------------------------------------------------------------- in a run
def test_restate_is_the_default_and_trains_on_the_loaded_examples(tiny):
    from layerbridge.training.recipe import setup

    assert TrainConfig().objective == "restate" and TrainConfig().encoder_token_dropout == 0.0
    cfg = train_config(tiny, "restate")
    task = get_task(cfg.task)
    data = load_train_dev(task, dev_size=2)
    run = setup(cfg, overwrite=True, data=data)
    assert run.train_examples is data[0] and run.objective == {}  # nothing rebuilt: the same batches as before
    assert run.targets_of == {e.id: run.bridge.target_ids([e.text])[0] for e in data[0]}


def test_a_continuation_run_trains_on_the_split_and_records_it(tiny, capsys):
    from layerbridge.bridge.hub import model_card

    root, enc, llm, task = tiny
    out = root / "continuation"
    common = ["--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "2", "--batch-size", "4",
              "--max-steps", "3", "--lr", "1e-2", "--fusion", "global_softmax"]
    assert main(["train", *common, "-o", str(out), "--objective", "continuation", "--encoder-token-dropout", "0.2"]) == 0
    said = capsys.readouterr().out
    saved = TrainConfig.load(out)
    assert (saved.objective, saved.encoder_token_dropout) == ("continuation", 0.2)
    summary = json.loads((out / "train_summary.json").read_text())
    train, _ = load_train_dev(get_task(str(task)), dev_size=2, seed=0)
    short = sum(len(e.text.split()) < MIN_SPLIT_WORDS for e in train)
    assert summary["objective"] == "continuation" and summary["encoder_token_dropout"] == 0.2
    assert summary["continuation_restated"] == short and summary["continuation_split"] == len(train) - short
    assert f"{len(train) - short} of {len(train)} training texts cut" in said
    card = model_card(LayerBridge.from_pretrained(out), out)
    assert "objective `continuation`" in card and "encoder token dropout 0.2" in card
    rerun = root / "continuation-rerun"  # the saved config reruns it: the same splits and drops, the same weights
    assert main(["train", "--config", str(out / "train_config.json"), "-o", str(rerun)]) == 0
    a, b = load_file(out / "bridge.safetensors"), load_file(rerun / "bridge.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    restated = root / "restated"
    assert main(["train", *common, "-o", str(restated)]) == 0
    plain = load_file(restated / "bridge.safetensors")
    assert not all(torch.equal(a[k], plain[k]) for k in a)
    assert "objective `" not in model_card(LayerBridge.from_pretrained(restated), restated)
    assert json.loads((restated / "train_summary.json").read_text())["objective"] == "restate"


def test_a_config_file_sets_the_objective_and_a_flag_wins(tiny, tmp_path):
    from layerbridge.cli.config_file import apply_config_file
    from layerbridge.cli.main import build_parser
    from layerbridge.cli.train_cmd import train_config_from_args

    config = tmp_path / "run.yaml"
    config.write_text("task: flores_en\noutput-dir: runs/x\nobjective: continuation\nencoder-token-dropout: 0.1\n")
    for argv, expected in ((["train", "--config", str(config)], ("continuation", 0.1)),
                           (["train", "--config", str(config), "--objective", "restate"], ("restate", 0.1))):
        parser = build_parser()
        apply_config_file(parser, argv)
        args = parser.parse_args(argv)
        cfg = train_config_from_args(args, output_dir=args.output_dir)
        assert (cfg.objective, cfg.encoder_token_dropout) == expected
    config.write_text("task: flores_en\noutput-dir: runs/x\nobjective: summarise\n")
    parser = build_parser()
    with pytest.raises(ConfigError, match="summarise"):
        apply_config_file(parser, ["train", "--config", str(config)])


def test_compare_and_demo_take_the_flags_and_a_resume_refuses_a_change():
    from layerbridge.cli.main import build_parser
    from layerbridge.training.run_folder import resume_conflicts

    for command in (["compare", "-o", "runs/x"], ["demo"]):
        args = build_parser().parse_args([*command, "--objective", "continuation", "--encoder-token-dropout", "0.3"])
        assert (args.objective, args.encoder_token_dropout) == ("continuation", 0.3)
    before = TrainConfig()
    assert resume_conflicts(before, TrainConfig(objective="continuation")) == ["objective: 'restate' -> 'continuation'"]
    assert resume_conflicts(before, TrainConfig(encoder_token_dropout=0.1)) == ["encoder_token_dropout: 0.0 -> 0.1"]
