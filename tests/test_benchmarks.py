"""The benchmark's own pieces are right (not its speed): the baselines it times compute the same
thing as the optimised path, the analytical FLOP count matches what torch executes, and the timed
batches of the bucketing ablation hold the same examples."""

import time
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode


from benchmarks.common import Arm, interleave, padding_fraction, training_batches  # noqa: E402
from benchmarks.flops import Dims, llm_attention_flops, step_flops  # noqa: E402
from benchmarks.training import (  # noqa: E402
    AuthorsBridge, DefaultAttentionBridge, FullGateFusion, FullLogitsBridge, PaddedGateFusion,
)
from layerbridge.bridge import BridgeConfig, LayerBridge  # noqa: E402
from layerbridge.tasks import Example, get_task  # noqa: E402

TEXTS = ["The match ended with a late goal.", "Parliament passed the budget after a long debate about taxes.",
         "A phone.", "The film won three awards at the festival."]
TARGETS = ["Sports", "Political", "Science", "Entertainment"]


def make(parts, fusion="token_softmax"):
    return LayerBridge(BridgeConfig(encoder="e", llm="l", fusion=fusion), *parts).eval()


@pytest.mark.parametrize("fusion", ["last", "global_softmax", "token_softmax"])
def test_full_logits_baseline_gives_the_bridge_loss(tiny_parts, fusion):
    bridge = make(tiny_parts, fusion)
    torch.manual_seed(0)
    baseline = FullLogitsBridge(BridgeConfig(encoder="e", llm="l", fusion=fusion), *tiny_parts).eval()
    baseline.load_state_dict(bridge.state_dict())
    ids, enc = bridge.target_ids(TARGETS), bridge.tokenize(TEXTS)
    torch.testing.assert_close(baseline(ids, **enc).example_loss, bridge(ids, **enc).example_loss, rtol=1e-5, atol=1e-5)


def test_authors_baseline_leaves_the_frozen_encoder_in_train_mode(tiny_parts):
    """As METHOD.md found in the authors' code: the encoder's dropout is on while it is frozen; the
    LLM stays in eval mode. Our bridge keeps both in eval mode."""
    baseline = AuthorsBridge(BridgeConfig(encoder="e", llm="l", fusion="last"), *tiny_parts).train()
    assert baseline.encoder.training and not baseline.llm.training
    assert not any(p.requires_grad for p in baseline.encoder.parameters())
    ours = make(tiny_parts, "last").train()
    assert not ours.encoder.training and not ours.llm.training
    ours.eval(), baseline.eval()


def test_default_attention_baseline_trains_through_torchs_default_kernel(tiny_parts):
    """The ablation's baseline differs from the bridge by the attention kernel alone."""
    from test_speed_correctness import autograd_node_names

    bridge = make(tiny_parts, "last").train()
    baseline = DefaultAttentionBridge(BridgeConfig(encoder="e", llm="l", fusion="last"), *tiny_parts).train()
    baseline.load_state_dict(bridge.state_dict())
    ids, enc = bridge.target_ids(TARGETS), bridge.tokenize(TEXTS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, theirs = bridge(ids, **enc).loss, baseline(ids, **enc).loss
    flash = "ScaledDotProductFlashAttentionForCpuBackward0"
    assert flash in autograd_node_names(theirs) and flash not in autograd_node_names(ours)
    torch.testing.assert_close(theirs, ours, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("baseline", [PaddedGateFusion, FullGateFusion])
def test_plain_gates_give_the_same_weights(tiny_parts, baseline):
    bridge = make(tiny_parts)
    enc = bridge.tokenize(TEXTS)
    states, mask = bridge.encoder_states(**enc), enc["attention_mask"]
    assert (mask == 0).any()  # there is padding to (wastefully) compute
    plain = baseline(bridge.fusion.config, num_layers=states.shape[2], hidden_size=states.shape[3]).eval()
    plain.load_state_dict(bridge.fusion.state_dict())
    expected = bridge.fusion.layer_weights(states, mask)
    torch.testing.assert_close(plain.layer_weights(states, mask), expected, rtol=1e-5, atol=1e-6)


def executed_step_flops(bridge, ids, enc) -> int:
    with FlopCounterMode(display=False) as counter:
        states = bridge.encoder_states(**enc)
        bridge(ids, attention_mask=enc["attention_mask"], encoder_states=states).loss.backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("fusion", ["last", "global_softmax", "token_softmax"])
def test_useful_flops_match_what_torch_executes_without_padding(tiny_parts, fusion):
    """The FLOP model against torch's own count: everything but the attention core with the fused
    (sdpa) attention, which FlopCounterMode does not see; then the attention core alone, as the
    count that eager attention's matmuls add (it computes the full n x n scores, the model counts
    the causal half the LLM needs, and all of the encoder's)."""
    bridge = make(tiny_parts, fusion).train()
    text, target = [TEXTS[1]], [TARGETS[1]]  # one example: no padding anywhere
    ids, enc = bridge.target_ids(target), bridge.tokenize(text)
    s = int(enc["attention_mask"].sum())
    llm_len = 1 + s + 1 + len(ids[0])
    dims = Dims.of(bridge)
    counted = step_flops(dims, fusion, [s], [llm_len], len(ids[0]), encoder_cached=False)["total"]
    llm_attention = 3 * llm_attention_flops(dims, llm_len - 1)  # forward + backward (2x), causal pairs
    encoder_attention = dims.enc_layers * 4 * dims.enc_hidden * s * s  # forward only: the encoder is frozen
    fused = executed_step_flops(bridge, ids, enc)
    # torch also runs the last (EOS) position, which predicts nothing: a few % more
    assert counted - llm_attention - encoder_attention == pytest.approx(fused, rel=0.05)

    for model in (tiny_parts[0], tiny_parts[2]):  # attention as plain matmuls, which FlopCounterMode counts
        model.set_attn_implementation("eager")
    attention_core = executed_step_flops(bridge, ids, enc) - fused
    square = llm_len**2 / (llm_len * (llm_len - 1) / 2)  # full scores over all positions vs the causal pairs counted
    assert llm_attention * square + encoder_attention == pytest.approx(attention_core, rel=0.02)


def test_bucketed_and_random_batches_hold_the_same_examples(tiny_parts):
    bridge = make(tiny_parts)
    words = "one two three four five six seven eight nine ten".split()
    train = [Example(id=f"t/{i}", text=" ".join(words[: 1 + i % 10]), label=i % 3, lang="en") for i in range(120)]
    label_ids = bridge.target_ids(["Sports", "Political", "Science"])
    batches = training_batches(bridge, train, label_ids, n_batches=4)
    ids = lambda bs: sorted(e.id for b in bs for e in b.examples)  # noqa: E731
    assert ids(batches.bucketed) == ids(batches.random) and len(ids(batches.bucketed)) == 32
    assert not set(ids([batches.warmup])) & set(ids(batches.bucketed))
    assert batches.padding["epoch_llm_bucketed"] < batches.padding["epoch_llm_random"]


def test_padding_fraction_and_interleaving():
    assert padding_fraction([[2, 2], [1, 3]]) == pytest.approx(1 - 8 / 10)
    calls = []
    arms = [Arm(name, run=lambda r, n=name: calls.append((r, n))) for name in "abc"]
    interleave(arms, rounds=3, log=lambda _: None, repeats=1)
    assert [n for _, n in calls] == list("abc" "bca" "cab")  # who goes first rotates
    assert all(len(a.seconds) == 3 for a in arms)


def test_interleaving_keeps_the_fastest_repeat():
    slow_once = iter([0.05])
    arm = Arm("a", run=lambda r: time.sleep(next(slow_once, 0.0)))
    interleave([arm], rounds=1, log=lambda _: None, repeats=2)
    assert arm.seconds[0] < 0.04  # the burst-hit first repeat is not the one kept


# ------------------------------------------------------------------------------ --precision
def test_auto_precision_follows_native_bf16(monkeypatch):
    import benchmarks.common as common
    from benchmarks.run import PARTS, parse_args, parts_for

    assert parse_args([]).precision == "auto"
    for native, used in ((False, "fp32"), (True, "bf16")):
        monkeypatch.setattr(common, "native_bf16", lambda native=native: native)
        assert common.resolve_precision("auto") == used
        assert common.resolve_precision("fp32") == "fp32" and common.resolve_precision("bf16") == "bf16"
    assert parts_for("bf16") == PARTS  # native bf16: today's twelve parts
    assert parts_for("fp32") == ("training", "ablation", "authors", "evaluation", "profile", "long_inputs", "memory_fp32", "memory_fp32_disk",
                                 "memory_fp32_disk_checkpointed")


def test_arms_per_precision():
    from benchmarks.evaluation import arm_specs
    from benchmarks.training import BF16_ONLY, ablation_specs

    bf16, fp32 = [n for n, _ in ablation_specs("bf16")], [n for n, _ in ablation_specs("fp32")]
    assert len(bf16) == 10 and fp32 == [n for n in bf16 if n not in BF16_ONLY] and len(fp32) == 7
    assert [s[0] for s in arm_specs("bf16")] == [  # as before --precision
        "rank fp32", "rank bf16", "generate fp32", "generate bf16", "rank bf16, shared prefix off",
        "generate bf16, cap 32 instead of label cap"]
    assert all(s[2] == "fp32" and "bf16" not in s[0] for s in arm_specs("fp32")) and len(arm_specs("fp32")) == 4


def test_fp32_run_measures_fp32_only_and_reports_it(tiny_parts, monkeypatch):
    """Every part in fp32 on tiny models: no bf16 arm, only the fp32 peak (which the FLOP fraction
    is taken against), and the report renders without the bf16 parts."""
    import benchmarks.profiling as profiling
    import benchmarks.training as training
    from benchmarks.evaluation import run_evaluation
    from benchmarks import long_inputs
    from benchmarks.memory import run_memory
    from benchmarks.report import markdown
    from benchmarks.run import PRECISION_REASONS, parts_for

    peak_dtypes = []

    def fake_peak(dtype, **_):
        peak_dtypes.append(dtype)
        return 1e9

    monkeypatch.setattr(training, "matmul_peak", fake_peak)
    monkeypatch.setattr(profiling, "matmul_peak", fake_peak)
    long_texts = [Example(id=f"l/{i}", text=" ".join(["word"] * (20 + i)), label=i % 3, lang="en") for i in range(24)]
    monkeypatch.setattr(long_inputs, "english_training_texts", lambda _: {"xnli": long_texts, "marc": long_texts[::-1]})
    monkeypatch.setattr(long_inputs, "LONG_REVIEWS", ("marc", 1, 10**6))
    models = lambda precision: tiny_parts if precision == "fp32" else pytest.fail("bf16 models loaded")  # noqa: E731
    bridge = make(tiny_parts)
    words = "one two three four five six seven eight nine ten".split()
    train = [Example(id=f"t/{i}", text=" ".join(words[: 1 + i % 10]), label=i % 3, lang="en") for i in range(60)]
    task = get_task("xnli")  # three labels, as the examples have
    batches = training_batches(bridge, train, bridge.target_ids(task.label_words), n_batches=2)
    quiet = lambda _: None  # noqa: E731

    r = {"command": "python benchmarks/run.py --quick", "mode": "quick", "wall_s": 1.0, "data": "tiny",
         "precision": {"requested": "auto", "used": "fp32", "native_bf16": False, "reason": PRECISION_REASONS["auto"][False]},
         "machine": {"cpu": "cpu", "cores": 2, "torch_threads": 1, "torch": "t", "transformers": "t", "commit": "c",
                     "load_before": 0.0, "load_after": 0.0, "models": "tiny"},
         "training": training.run_training(models, task.name, batches, 1, precision="fp32", log=quiet),
         "ablation": training.run_ablation(models, task.name, batches, 1, precision="fp32", log=quiet),
         "authors": training.run_authors(models, task.name, batches, 1, log=quiet),
         "evaluation": run_evaluation(models, task, train[:8], 4, precision="fp32", log=quiet),
         "profile": profiling.run_profile(models, task.name, batches, 1, precision="fp32", log=quiet),
         "long_inputs": long_inputs.run_long_inputs(models("fp32"), Path("unused"), 1, precision="fp32", log=quiet),
         "memory_fp32": run_memory(models("fp32"), task.name, train, 1, precision="fp32", log=quiet),
         "memory_fp32_disk": run_memory(models("fp32"), task.name, train, 1, precision="fp32", on_disk=True, log=quiet),
         "memory_fp32_disk_checkpointed": run_memory(models("fp32"), task.name, train, 1, precision="fp32", on_disk=True,
                                                     checkpointing=True, log=quiet)}
    assert list(r)[-9:] == list(parts_for("fp32"))
    li = r["long_inputs"]["sets"]
    assert list(li) == ["xnli (longest mean input)", "marc, reviews of 1-1000000 encoder tokens (longer ones cut at 1000000)"]
    for st in li.values():
        assert list(st["arms"]) == list(long_inputs.DESIGNS) and st["arms"][next(iter(long_inputs.DESIGNS))]["speedup"] == 1.0
        assert all(a["examples_per_s"] > 0 for a in st["arms"].values())
    assert r["memory_fp32_disk_checkpointed"]["gradient_checkpointing"] and not r["memory_fp32_disk"]["gradient_checkpointing"]
    in_memory, on_disk = r["memory_fp32"], r["memory_fp32_disk"]
    assert not in_memory["cache_on_disk"] and on_disk["cache_on_disk"]
    assert on_disk["cache_estimate_gb"] == in_memory["cache_estimate_gb"] > 0
    for part in parts_for("fp32"):
        r[part].update(wall_s=1.0, others_cpu_share=0.0)

    t = r["training"]
    assert sorted(t["arms"]) == ["global_softmax fp32", "last fp32", "token_softmax fp32"]
    assert set(peak_dtypes) == {torch.float32} and t["matmul_peak_flops"] == {"fp32": 1e9}
    for arm in t["arms"].values():
        assert arm["mfu"] == pytest.approx(arm["useful_flops_per_s"] / 1e9)
    assert len(r["ablation"]["arms"]) == 7 and not any("bf16" in name for name in r["ablation"]["arms"])
    authors = r["authors"]["arms"]
    assert len(authors) == 3 * len(training.AUTHORS_ARMS)
    for fusion in training.FUSIONS:
        assert authors[f"{fusion}: the authors' choices"]["speedup_vs_authors"] == 1.0
        assert authors[f"{fusion}: layerbridge, first epoch (encoder computed)"]["examples_per_s"] > 0
    assert all(a["precision"] == "fp32" for a in r["evaluation"]["arms"].values())
    assert "bf16" not in r["profile"] and "bf16" not in r["profile"]["matmul_at_llm_shapes"]

    text = markdown(r)
    assert "no native bf16 on this CPU: fp32, as --mixed-precision auto does" in text
    assert "training useful FLOPs >= 50% of fp32 matmul peak" in text
    assert "memory_bf16" not in text and "bf16 vs fp32" not in text
    assert "on disk (`--encoder-cache-dir`)" in text and "< 2 GB with the encoder cache" in text
    assert "2.5x the authors' choices" in text and "### Against the authors' choices, every fusion" in text


def test_paper_scale_models_have_the_published_shapes():
    """Built on the meta device (no memory): Llama-3.2-1B has 1.24B parameters (tied embeddings),
    mT5-large's encoder 24 layers of d_model 1024 over a 250,112-token vocabulary."""
    from transformers import LlamaForCausalLM, T5EncoderModel

    from benchmarks.paper_scale import encoder_config, english_texts, llm_config

    with torch.device("meta"):
        encoder, llm = T5EncoderModel(encoder_config()), LlamaForCausalLM(llm_config())
    assert round(sum(p.numel() for p in llm.parameters()) / 1e9, 2) == 1.24
    assert (encoder.config.num_layers, encoder.config.d_model, encoder.config.vocab_size) == (24, 1024, 250112)
    assert 0.55e9 < sum(p.numel() for p in encoder.parameters()) < 0.58e9
    texts = english_texts(3, join=2)
    assert len(texts) == 3 and all(len(t) > 0 for t in texts)


def test_authors_memory_arms_run_through_the_recipe(tiny_parts):
    """Each arm of the memory comparison against the authors' choices is a real recipe run (theirs
    with no cache, random batches and the full-logits bridge); the table reports each peak
    against theirs."""
    import benchmarks.training as training
    from benchmarks import authors_memory
    from benchmarks.memory import run_memory

    words = "one two three four five six seven eight nine ten".split()
    train = [Example(id=f"t/{i}", text=" ".join(words[: 1 + i % 10]), label=i % 3, lang="en") for i in range(40)]
    quiet = lambda _: None  # noqa: E731
    arms = {}
    for arm in authors_memory.ARMS:
        fusion, kw = authors_memory.arm_settings("token_softmax", arm)
        arms[arm] = run_memory(tiny_parts, "xnli", train, 1, "fp32", fusion=fusion, log=quiet, **kw)
    assert arms[authors_memory.AUTHORS]["fusion"] == training.PaddedGateConfig.name
    assert authors_memory.arm_settings("token_softmax", authors_memory.AUTHORS)[1]["bridge_class"] is training.AuthorsBridge
    assert arms[authors_memory.AUTHORS]["cache_texts"] == arms["layerbridge, no encoder cache"]["cache_texts"] == 0
    assert arms[authors_memory.IN_RAM]["cache_texts"] == len(train) and not arms[authors_memory.IN_RAM]["cache_on_disk"]
    assert arms[authors_memory.IN_FILE]["cache_on_disk"]
    doc = {"command": "c", "machine": "m", "batch": 8, "rounds": 1, "texts": len(train), "fusions": {"token_softmax": arms}}
    text = authors_memory.markdown(doc)
    assert "| token_softmax | the authors' choices |" in text and "+0.00 |" in text
    assert f"| token_softmax | **{authors_memory.IN_RAM} (the default: a " in text  # a tiny cache stays in RAM


def test_gate_baselines_are_registered_only_while_an_arm_is_set_up():
    """Importing benchmarks.training (done above) registers nothing; `gate_baselines()` registers the
    two gates for its block and leaves the registry as it was, in order and the same dict."""
    from benchmarks.training import GATE_BASELINES, gate_baselines
    from layerbridge.fusion import FUSIONS, register_fusion
    from layerbridge.registry import restored

    before = dict(FUSIONS)
    assert not set(GATE_BASELINES) & set(FUSIONS)
    with gate_baselines():
        assert set(GATE_BASELINES) <= set(FUSIONS)
    assert FUSIONS == before and list(FUSIONS) == list(before)
    with pytest.raises(RuntimeError), restored(FUSIONS):  # undone on an error too, a removal included
        register_fusion(FUSIONS["last"][0], PaddedGateFusion, replace=True)
        del FUSIONS["global_softmax"]
        raise RuntimeError
    assert FUSIONS == before and list(FUSIONS) == list(before)


def test_a_bridge_given_to_the_recipe_starts_from_the_recipes_own_weights(tiny_parts, tmp_path):
    """`setup(cfg, bridge=...)` trains the caller's LayerBridge subclass (the benchmarks' baselines);
    built right after set_seed(cfg.seed), it has the weights the recipe would have built."""
    from accelerate.utils import set_seed

    from layerbridge.errors import ConfigError
    from layerbridge.training import recipe
    from layerbridge.training.config import TrainConfig

    examples = [Example(id=f"t/{i}", text=TEXTS[i % 4], label=i % 3, lang="en") for i in range(8)]
    cfg = lambda out: TrainConfig(task="xnli", output_dir=str(tmp_path / out), max_steps=1,  # noqa: E731
                                  bridge=BridgeConfig(encoder="e", llm="l", fusion="token_softmax"))
    own = recipe.setup(cfg("own"), models=tiny_parts, data=(examples, []))
    set_seed(0)
    given = recipe.setup(cfg("given"), data=(examples, []), bridge=AuthorsBridge(cfg("given").bridge, *tiny_parts))
    assert type(given.bridge) is AuthorsBridge and type(own.bridge) is LayerBridge
    ours, theirs = own.bridge.trainable_state_dict(), given.bridge.trainable_state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(ConfigError, match="either `models` or a `bridge`"):
        recipe.setup(cfg("both"), models=tiny_parts, data=(examples, []), bridge=given.bridge)
    other = AuthorsBridge(BridgeConfig(encoder="e", llm="l", fusion="global_softmax"), *tiny_parts)
    with pytest.raises(ConfigError, match="other settings than cfg.bridge: fusion"):
        recipe.setup(cfg("other"), data=(examples, []), bridge=other)
