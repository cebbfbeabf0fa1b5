"""What a resumed run may change and what it refuses (issue 29, defect 9), and the refusals made
before a training starts: FSDP / DeepSpeed asked for through accelerate's environment (defect 11),
and --llm-input instruction+text, which has nothing to train (defect 7)."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from layerbridge.bridge import BridgeConfig
from layerbridge.errors import ConfigError
from layerbridge.training.config import TrainConfig


def config(tiny, out, **changes):
    root, enc, llm, task = tiny
    bridge = {"fusion": "token_softmax", **changes.pop("bridge", {})}
    values = dict(task=str(task), output_dir=str(out), dev_size=3, batch_size=4, learning_rate=1e-2, max_steps=7,
                  checkpoint_every=2, log_every=1)  # token_softmax: its gate's dropout makes the micro-batches matter
    return TrainConfig(**{**values, **changes},
                       bridge=BridgeConfig(encoder=str(enc), llm=str(llm), **bridge))


def crash_after(cfg, step: int) -> None:
    """Train with the recipe's own loop and leave it after `step`, as a crash there leaves the folder."""
    from layerbridge.training.recipe import fit, setup

    run = setup(cfg)
    for done in fit(run):
        if done == step:
            break
    del run
    assert not (Path(cfg.output_dir) / "bridge.safetensors").exists()


def weights(folder: Path) -> dict:
    return load_file(folder / "bridge.safetensors")


def assert_equal_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def test_a_moved_run_folder_resumes_with_new_paths_and_bookkeeping(tiny, tmp_path):
    """The killed run's folder moved (and its data folder, model cache, log and checkpoint intervals
    changed): --resume continues it and ends with the uninterrupted run's weights. Refused before."""
    from layerbridge.training.recipe import train

    train(config(tiny, tmp_path / "straight"))
    crash_after(config(tiny, tmp_path / "crashed", data_dir=str(tmp_path / "old-data")), 5)
    shutil.move(tmp_path / "crashed", tmp_path / "moved")
    before = json.loads((tmp_path / "moved" / "checkpoint" / "trainer_state.json").read_text())["progress"]
    train(config(tiny, tmp_path / "moved", data_dir=str(tmp_path / "new-data"), cache_dir=str(tmp_path / "models"),
                 encoder_cache_dir=str(tmp_path), log_every=3, checkpoint_every=3), resume=True)
    assert_equal_weights(tmp_path / "straight", tmp_path / "moved")
    log = [json.loads(line)["step"] for line in (tmp_path / "moved" / "train_log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4, 6, 7]  # the killed run's entries up to its checkpoint, then every 3rd and the last
    # the summary's time and speed count the killed run's steps up to its checkpoint, not only the rest
    summary, straight = (json.loads((tmp_path / run / "train_summary.json").read_text()) for run in ("moved", "straight"))
    assert 0 < before["examples"] < straight["examples"] == summary["examples"]
    assert 0 < before["seconds"] < summary["seconds"]
    assert TrainConfig.load(tmp_path / "moved").output_dir == str(tmp_path / "moved")


def test_resume_refuses_what_changes_the_weights_naming_each_setting(tiny, tmp_path):
    from layerbridge.training.recipe import train

    crash_after(config(tiny, tmp_path / "run"), 3)
    with pytest.raises(ConfigError) as refused:
        train(config(tiny, tmp_path / "run", learning_rate=1e-3, bridge={"fusion": "last"}), resume=True)
    message = str(refused.value)
    assert "learning_rate: 0.01 -> 0.001" in message and "bridge.fusion: 'token_softmax' -> 'last'" in message
    assert "output_dir" in message  # among what may differ
    with pytest.raises(ConfigError, match=r"eval_every: 0 -> 2"):  # it picks the kept weights with keep_best
        train(config(tiny, tmp_path / "run", eval_every=2, keep_best=True), resume=True)
    # the same settings on other data (a moved data folder holding other texts): refused by the data's fingerprint
    from layerbridge.tasks import get_task, load_train_dev

    train_examples, dev = load_train_dev(get_task(str(tiny[3])), dev_size=3, seed=0)
    with pytest.raises(ConfigError, match="training data are not those"):
        train(config(tiny, tmp_path / "run"), resume=True, data=(train_examples[1:], dev))


def test_resume_refuses_other_base_weights_under_the_same_name(tiny, tmp_path):
    """The LLM folder now holds other weights (a re-downloaded revision): the checkpoint's trained
    weights are bound to the old ones, so --resume says which base model changed."""
    from layerbridge.training.recipe import train
    from tiny_models import tiny_llm

    root, enc, llm, task = tiny
    own_llm = tmp_path / "llm"
    shutil.copytree(llm, own_llm)
    cfg = TrainConfig(task=str(task), output_dir=str(tmp_path / "run"), dev_size=3, batch_size=4, learning_rate=1e-2,
                      max_steps=5, checkpoint_every=2, bridge=BridgeConfig(encoder=str(enc), llm=str(own_llm)))
    crash_after(cfg, 3)
    state = json.loads(next((tmp_path / "run").glob("checkpoint*/trainer_state.json")).read_text())
    assert state["base_weights"]["llm"] and state["base_weights"]["encoder"]
    tiny_llm(seed=7).save_pretrained(own_llm)  # same shapes, other weights
    with pytest.raises(ConfigError, match=r"other base weights \(llm: "):
        train(cfg, resume=True)


def test_a_checkpoint_without_fingerprints_resumes_and_says_it_could_not_check(tiny, tmp_path, capsys):
    """A checkpoint written before fingerprints were recorded resumes (nothing to refuse it on), and
    the resume says which base models it could not check."""
    from layerbridge.training.recipe import train

    cfg = config(tiny, tmp_path / "run")
    crash_after(cfg, 3)
    for path in (tmp_path / "run").glob("checkpoint*/trainer_state.json"):
        state = json.loads(path.read_text())
        state.pop("base_weights")
        path.write_text(json.dumps(state))
    capsys.readouterr()
    train(cfg, resume=True)
    assert "the base weights of the encoder and the llm could not be checked" in capsys.readouterr().out


def test_a_checkpoint_of_two_processes_resumes_on_one_with_its_micro_batches(tiny, tmp_path):
    """The default micro-batch is batch / processes: a run killed on 2 processes (micro-batches of
    2) and resumed on 1 keeps micro-batches of 2, so its dropout and global batches are those of the
    killed run. The 2-process checkpoint is simulated here on one process (explicit micro-batches of
    2 and a trainer state naming 2 processes, as that run writes it); tests/test_cli.py resumes a
    real one. Before: the resumed steps took micro-batches of 4 and ended elsewhere."""
    from layerbridge.training.recipe import train

    train(config(tiny, tmp_path / "straight", micro_batch_size=2))
    crashed = tmp_path / "crashed"
    crash_after(config(tiny, crashed, micro_batch_size=2), 5)
    saved = json.loads((crashed / "train_config.json").read_text())
    (crashed / "train_config.json").write_text(json.dumps({**saved, "micro_batch_size": None}))
    state_file = crashed / "checkpoint" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    assert state.pop("micro_batch_size", 2) == 2  # dropped: as a checkpoint that did not keep it, from `processes`
    state_file.write_text(json.dumps({**state, "processes": 2}))
    shutil.copy(crashed / "checkpoint" / "rng_0.safetensors", crashed / "checkpoint" / "rng_1.safetensors")
    train(config(tiny, crashed), resume=True)
    assert_equal_weights(tmp_path / "straight", crashed)


@pytest.mark.parametrize("variable", ["ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"])
def test_fsdp_or_deepspeed_from_accelerates_environment_is_refused_before_any_step(tiny, tmp_path, monkeypatch,
                                                                                  variable):
    """`accelerate launch --use_fsdp / --use_deepspeed` (or a config file naming them) set these
    variables; through the recipe they are refused before anything trains or is written. Before,
    FSDP trained unsharded on a CPU without a word, and DeepSpeed failed on accelerate's ImportError."""
    import layerbridge.training.recipe as recipe

    def no_step(run, step):
        raise AssertionError("a training step ran")

    monkeypatch.setattr(recipe, "train_step", no_step)
    monkeypatch.setenv(variable, "true")
    with pytest.raises(ConfigError, match=f"{variable}=true: .*not support.*supported: one process, or DDP"):
        recipe.train(config(tiny, tmp_path / "sharded"))
    assert not (tmp_path / "sharded").exists()


def test_training_the_llm_alone_on_the_raw_text_is_refused_naming_what_works(tiny, tmp_path):
    """--llm-input instruction+text gives the LLM no soft tokens: nothing of the bridge reaches the
    loss. Before, it died in autograd ("does not require grad") after loading everything."""
    from layerbridge.cli.main import main
    from layerbridge.training.recipe import train

    with pytest.raises(ConfigError, match=r"--llm-input instruction\+text cannot be trained.*--soft-prompt-length"):
        train(config(tiny, tmp_path / "alone", bridge={"llm_input": "instruction+text", "instruction": "Topic: "}))
    assert not (tmp_path / "alone").exists()
    root, enc, llm, task = tiny
    assert main(["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--llm-input",
                 "instruction+text", "--instruction", "Topic: ", "--max-steps", "1", "-o", str(tmp_path / "cli")]) == 2


def test_a_one_process_checkpoint_resumes_on_two_processes(tiny, tmp_path):
    """Killed on 1 process (micro-batches of 4, the whole batch), resumed on 2 gloo processes: the
    checkpoint's micro-batches of 4 are kept (one per step: the second rank joins with zero weight,
    its RNG derived from the seed), so it ends with the uninterrupted 1-process weights (to float
    summation order). Before: micro-batches of 2 there, other dropout, other weights."""
    import subprocess
    import sys

    from layerbridge.cli.main import main
    from test_cli import launch_two

    root, enc, llm, task = tiny
    args = ["train", "--encoder", enc, "--llm", llm, "--task", task, "--dev-size", "3", "--fusion", "token_softmax",
            "--fusion-option", "gate_ffn_size=16", "--max-steps", "5", "--batch-size", "4", "--lr", "1e-2",
            "--checkpoint-every", "2"]
    args = list(map(str, args))
    assert main(args + ["-o", str(tmp_path / "straight")]) == 0
    killer = tmp_path / "killed_at_step_4.py"
    killer.write_text(
        "import sys\nimport layerbridge.training.recipe as recipe\nfrom layerbridge.cli.main import main\n"
        "step_once = recipe.train_step\n"
        "def train_step(run, step):\n    if step == 3:\n        raise SystemExit(9)  # after the step-2 checkpoint\n"
        "    return step_once(run, step)\n"
        "recipe.train_step = train_step\nsys.exit(main(sys.argv[1:]))\n")
    assert subprocess.run([sys.executable, str(killer), *args, "-o", str(tmp_path / "killed")]).returncode == 9
    resumed = launch_two(args + ["-o", tmp_path / "killed", "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "killed")
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5, rtol=1e-5), (key, (a[key] - b[key]).abs().max())
    assert "resuming on 2 process(es) a run checkpointed on 1: micro-batches of 4" in resumed.stdout
