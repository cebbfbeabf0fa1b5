"""`--config FILE` on train, compare, evaluate and demo: a file's options under the command line's, a run's
saved train_config.json reruns it (the same weights), clear errors naming the key and the file, and the
example configs of docs/configs.md parsed with their commands."""

import json
import re
from pathlib import Path

import pytest
from safetensors.torch import load_file

from layerbridge.cli.compare_cmd import build_compare_config
from layerbridge.cli.demo_cmd import apply_generation_demo
from layerbridge.cli.main import main, parse_args
from layerbridge.cli.options import apply_paper_flag, decoding_overrides
from layerbridge.cli.train_cmd import train_config_from_args
from layerbridge.errors import ConfigError
from layerbridge.training.config import TrainConfig


DOCS = Path(__file__).resolve().parents[1] / "docs"


def train_config(argv: list[str]) -> TrainConfig:
    args = parse_args(argv)
    apply_paper_flag(args, fusion_dest="fusion")  # as `layerbridge train` does
    return train_config_from_args(args, output_dir=args.output_dir)


def without_output(cfg: TrainConfig) -> dict:
    return {**cfg.to_dict(), "output_dir": None}


def test_a_saved_train_config_reruns_the_run(tiny):
    root, enc, llm, task = tiny
    a, b = root / "a", root / "b"
    assert main(["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3",
                 "-o", str(a), "--fusion", "token_softmax", "--fusion-option", "init=last", "--layers", "1,3,4",
                 "--no-bos", "--max-steps", "3", "--batch-size", "4", "--lr", "1e-2", "--seed", "3",
                 "--label-smoothing", "0.1", "--dev-limit", "3"]) == 0
    assert main(["train", "--config", str(a / "train_config.json"), "-o", str(b)]) == 0
    first, again = TrainConfig.load(a), TrainConfig.load(b)
    assert without_output(first) == without_output(again) and again.output_dir == str(b)
    assert again.bridge.fusion_options == {"init": "last"} and again.bridge.layers == [1, 3, 4]
    weights_a, weights_b = load_file(a / "bridge.safetensors"), load_file(b / "bridge.safetensors")
    assert weights_a.keys() == weights_b.keys() and weights_a
    for name, tensor in weights_a.items():
        assert tensor.equal(weights_b[name]), name
    print(f"config rerun: {len(weights_a)} tensors of {a.name} and {b.name} equal")
    # a flag over the file: one thing changed, the rest is the run's
    seed1 = train_config(["train", "--config", str(a / "train_config.json"), "-o", str(root / "c"), "--seed", "1"])
    assert seed1.seed == 1 and {**without_output(seed1), "seed": 3} == without_output(first)


def test_yaml_options_under_the_command_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: flores_en\noutput-dir: runs/x\nlr: 3e-4\nmax_steps: 5\nno-encoder-cache: true\n"
                    "bridge:\n  fusion: token_softmax\n  fusion_options: {init: last, gate_dropout: 0.0}\n"
                    "  layers: [6, 9, 12]\n  freeze_encoder: false\n  use_bos: false\n", encoding="utf-8")
    cfg = train_config(["train", "--config", str(path), "--max-steps", "7", "--fusion-option", "init=random"])
    assert (cfg.task, cfg.output_dir, cfg.learning_rate, cfg.max_steps) == ("flores_en", "runs/x", 3e-4, 7)
    assert not cfg.encoder_cache and cfg.bridge.fusion == "token_softmax" and cfg.bridge.layers == [6, 9, 12]
    assert cfg.bridge.fusion_options == {"init": "random", "gate_dropout": 0.0}  # the flag's item after the file's
    assert not cfg.bridge.freeze_encoder and not cfg.bridge.use_bos
    assert cfg.bridge.instruction == "Translate into English: "  # the task's, as without a file
    # JSON too, and the same options as the flags give
    (tmp_path / "run.json").write_text(json.dumps({"task": "sib200", "--epochs": 2, "preset": "small-data"}))
    assert (train_config(["train", "--config", str(tmp_path / "run.json"), "-o", "runs/y"]).to_dict()
            == train_config(["train", "--task", "sib200", "--epochs", "2", "--preset", "small-data",
                             "-o", "runs/y"]).to_dict())


@pytest.mark.parametrize("text, message", [
    ("lerning_rate: 1e-3\n", "unknown option 'lerning_rate' for `layerbridge train`; did you mean 'learning-rate'?"),
    ("bridge:\n  fusoin: last\n", "unknown option 'bridge.fusoin' for `layerbridge train`; did you mean 'fusion'?"),
    ("lr: fast\n", "'lr' in {file}: expected a number, got 'fast'"),
    ("max-steps: 2.5\n", "'max-steps' in {file}: expected an integer, got 2.5"),
    ("keep-best: 1\n", "'keep-best' in {file}: expected true or false, got 1"),
    ("mixed_precision: fp16\n", "'mixed_precision' in {file}: 'fp16' is not one of no, bf16, auto"),
    ("betas: [0.9, 0.99]\n", "'betas' in {file}: betas=[0.9, 0.99] cannot be set from the command line"),
    ("lr: 1e-3\nlearning_rate: 1e-2\n", "'lr' and 'learning_rate' set the same option"),
    ("- lr\n", "expected a mapping of option: value"),
])
def test_bad_files_are_refused_naming_the_key_and_the_file(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["train", "--config", str(path), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerbridge train: error: ") and str(path) in err
    assert message.format(file=path) in err
    assert not (tmp_path / "run").exists()


def test_evaluate_takes_its_bridge_folder_and_options_from_a_file(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("bridge: runs/b\nlimit: 5\nlanguages: [fra_Latn, sin_Sinh]\nnum-beams: 4\n", encoding="utf-8")
    args = parse_args(["evaluate", "--config", str(path)])
    assert (args.bridge, args.limit, args.languages, args.num_beams) == ("runs/b", 5, "fra_Latn,sin_Sinh", 4)
    assert parse_args(["evaluate", "runs/c", "--config", str(path), "--limit", "2"]).bridge == "runs/c"
    path.write_text("learning_rate: 1e-3\n", encoding="utf-8")  # a training setting: not evaluate's
    with pytest.raises(ConfigError, match="unknown option 'learning_rate' for `layerbridge evaluate`"):
        parse_args(["evaluate", "runs/b", "--config", str(path)])


def test_compare_reads_its_runs_from_a_file(tmp_path):
    path = tmp_path / "compare.yaml"
    path.write_text("task: sib200\noutput-dir: runs/cmp\nfusions: [last, 'token_softmax[init=last]']\n"
                    "lr-grid: [3.0e-4, 1.0e-3]\nreferences: ''\nfusion-option: {token_softmax: {gate_dropout: 0}}\n"
                    "eval-limit: 10\n", encoding="utf-8")
    args = parse_args(["compare", "--config", str(path), "--eval-limit", "20"])
    cfg = build_compare_config(args, languages=["eng_Latn"])
    assert list(cfg.runs) == ["last", "token_softmax[init=last]"] and cfg.lr_grid == [3e-4, 1e-3]
    assert cfg.runs["token_softmax[init=last]"].fusion_options == {"init": "last", "gate_dropout": 0}
    assert (cfg.references, cfg.eval_limit, cfg.train.output_dir) == ([], 20, "runs/cmp")


def demo_config(argv: list[str]):
    """The CompareConfig `layerbridge demo` builds from argv (its run() up to training, with the eval limit
    of a full-precision machine)."""
    args = parse_args(argv)
    apply_paper_flag(args, fusion_dest="fusions")
    if args.task == "flores_en":
        apply_generation_demo(args)
    return build_compare_config(args, languages=args.languages.split(",") if args.languages else ["eng_Latn"])


def example(name: str) -> Path:
    """A config of docs/configs/, which docs/configs.md shows verbatim, and the command its first line names."""
    path = DOCS / "configs" / name
    assert path.read_text(encoding="utf-8") in (DOCS / "configs.md").read_text(encoding="utf-8"), name
    assert re.match(rf"# layerbridge \w+ --config docs/configs/{re.escape(name)}\n", path.read_text()), name
    return path


def test_doc_example_paper_is_the_paper_flag():
    from_file = train_config(["train", "--config", str(example("paper.yaml"))])
    assert from_file.to_dict() == train_config(["train", "--paper", "-o", "runs/paper-sib200"]).to_dict()


def test_doc_example_demo_is_the_demo():
    from layerbridge.cli.demo_cmd import DEMO_LANGUAGES

    from_file = demo_config(["demo", "--config", str(example("demo.yaml"))])
    plain = demo_config(["demo", "--languages", ",".join(DEMO_LANGUAGES)])
    assert from_file == plain and from_file.languages == DEMO_LANGUAGES


def test_doc_examples_flores_en_are_the_generative_demo():
    trained = train_config(["train", "--config", str(example("flores_en.yaml"))])
    demo = demo_config(["demo", "--task", "flores_en"]).train
    assert without_output(trained) == without_output(demo) and trained.output_dir == "runs/flores_en"
    args = parse_args(["evaluate", "--config", str(example("flores_en-evaluate.yaml"))])
    assert (args.bridge, args.limit, args.no_repeat_ngram_size) == ("runs/flores_en", 16, 3)
    from layerbridge.cli.demo_cmd import DEMO_LANGUAGES

    assert args.languages.split(",") == DEMO_LANGUAGES


def test_a_flag_replaces_a_files_list_and_merges_over_its_key_values(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: flores_en\noutput-dir: runs/x\nreport-to: [tensorboard]\nstop: ['\\n', '###']\n"
                    "fusion: token_softmax\nfusion-option: {init: last, gate_dropout: 0.1}\n", encoding="utf-8")
    args = parse_args(["train", "--config", str(path)])  # no flag: the file's lists
    assert (args.report_to, args.stop) == (["tensorboard"], ["\\n", "###"])  # as --stop '\n' gives it
    args = parse_args(["train", "--config", str(path), "--report-to", "none", "--stop", ".", "--stop", "!"])
    assert (args.report_to, args.stop) == (["none"], [".", "!"])  # replaced, not added to
    cfg = train_config(["train", "--config", str(path), "--report-to", "none", "--fusion-option", "init=random"])
    assert cfg.report_to == []  # not "'none' cannot be combined with trackers"
    assert cfg.bridge.fusion_options == {"init": "random", "gate_dropout": 0.1}  # per key, the flag's wins
    assert train_config(["train", "--config", str(path), "--report-to", "wandb"]).report_to == ["wandb"]
    # compare and evaluate alike
    (tmp_path / "eval.yaml").write_text("bridge: runs/b\nstop: ['###']\n", encoding="utf-8")
    assert parse_args(["evaluate", "--config", str(tmp_path / "eval.yaml"), "--stop", "."]).stop == ["."]
    (tmp_path / "cmp.yaml").write_text("task: sib200\noutput-dir: runs/c\nreport-to: tensorboard\n", encoding="utf-8")
    assert parse_args(["compare", "--config", str(tmp_path / "cmp.yaml"), "--report-to", "none"]).report_to == ["none"]


def test_a_generation_block_takes_decoding_options_only(tmp_path, capsys):
    path = tmp_path / "gen.yaml"
    path.write_text("task: flores_en\noutput-dir: runs/x\nseed: 3\ngeneration: {num_beams: 4, seed: 7}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'generation\.seed' in .*gen\.yaml: not a decoding option"):
        parse_args(["train", "--config", str(path)])  # not the training seed, silently
    path.write_text("bridge: runs/b\ngeneration: {seed: 7}\n", encoding="utf-8")  # was: evaluate's --seed 7
    assert main(["evaluate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'generation.seed' in " + str(path) in err and "no option sets a decoding seed" in err
    path.write_text("generation: {max_steps: 5}\n", encoding="utf-8")  # a training option, not decoding
    with pytest.raises(ConfigError, match=r"'generation\.max_steps' .*: not a decoding option .*num-beams"):
        parse_args(["train", "--config", str(path), "-o", "runs/x"])


def test_a_generation_block_and_on_off_switches_set_the_decoding(tmp_path):
    path = tmp_path / "gen.yaml"  # a saved train_config.json's generation dict: Decoding field names
    path.write_text("task: flores_en\noutput-dir: runs/x\nseed: 3\n"
                    "generation: {num_beams: 4, no_repeat_ngram_size: 3, do_sample: false, stop_after_text: true}\n",
                    encoding="utf-8")
    args = parse_args(["train", "--config", str(path)])
    assert args.seed == 3 and decoding_overrides(args) == {"num_beams": 4, "no_repeat_ngram_size": 3,
                                                           "do_sample": False, "stop_after_text": True}
    path.write_text("bridge: runs/b\nno-sample: true\nstop-before-text: true\n", encoding="utf-8")
    args = parse_args(["evaluate", "--config", str(path)])
    assert (args.sample, args.stop_before_text) == (False, True)  # --no-sample, --stop-before-text
    assert parse_args(["evaluate", "--config", str(path), "--sample"]).sample is True
