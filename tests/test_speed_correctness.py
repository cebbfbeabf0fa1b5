"""Every speed optimisation gives the same results as the plain computation (speed itself is
measured by benchmarks/, never here)."""

import copy

import pytest
import torch
import torch.nn.functional as F

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.encoder_cache import EncoderStateCache
from layerbridge.errors import ConfigError
from layerbridge.training.batches import epoch_batches

TEXTS = [
    "The match ended with a late goal.",
    "Parliament passed the budget after a long debate about taxes, schools and roads in the north.",
    "ශ්‍රී ලංකා ක්‍රිකට්",
    "A phone.",
]
TARGETS = ["Sports", "Political", "Sports", "Science"]


def make(parts, fusion="token_softmax", **kw):
    return LayerBridge(BridgeConfig(encoder="e", llm="l", fusion=fusion, **kw), *parts)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-6), (torch.bfloat16, 2e-2)])
def test_cached_encoder_states_give_the_same_loss(tiny_parts, dtype, tolerance):
    bridge = make(tiny_parts)
    ids = bridge.target_ids(TARGETS)
    plain = bridge(ids, **bridge.tokenize(TEXTS)).example_loss
    cache = EncoderStateCache(bridge, dtype=dtype)
    for _ in range(2):  # first pass fills the cache, second pass reads it
        states, mask = cache.states(TEXTS)
        cached = bridge(ids, attention_mask=mask, encoder_states=states).example_loss
        assert torch.allclose(plain, cached, rtol=tolerance, atol=tolerance), (plain, cached)
    assert cache.misses == len(TEXTS) and cache.hits == len(TEXTS)


def test_packed_cache_returns_each_texts_own_states_across_slabs(tiny_parts, monkeypatch):
    import layerbridge.encoder_cache as encoder_cache

    bridge = make(tiny_parts)
    cache = EncoderStateCache(bridge, dtype=torch.float32)
    monkeypatch.setattr(encoder_cache, "SLAB_BYTES", 3 * cache.bytes_per_token())  # a slab holds 3 tokens
    for text in TEXTS:  # one at a time: every text lands in the slabs on its own
        cache.states([text])
    assert len(cache) == len(TEXTS) and len(cache.slabs) >= 3
    states, mask = cache.states(TEXTS[::-1])
    enc = bridge.tokenize(TEXTS[::-1])
    direct = bridge.encoder_states(**enc)
    for b in range(len(TEXTS)):
        n = int(enc["attention_mask"][b].sum())
        assert int(mask[b].sum()) == n
        assert torch.allclose(states[b, :n], direct[b][enc["attention_mask"][b].bool()], atol=1e-6)
    tokens = sum(bridge.token_lengths(TEXTS))
    assert cache.nbytes >= tokens * cache.bytes_per_token()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_disk_cache_matches_the_memory_cache_and_cleans_up(tiny_parts, tmp_path, dtype):
    import gc

    bridge = make(tiny_parts)
    memory = EncoderStateCache(bridge, dtype=dtype)
    disk = EncoderStateCache(bridge, directory=tmp_path / "cache", dtype=dtype)
    for text in TEXTS:
        memory.states([text]), disk.states([text])
    files = sorted((tmp_path / "cache").glob("*/*"), key=lambda f: f.name != "states.bin")
    assert sorted(f.name for f in files) == ["owner.json", "states.bin"] and not disk.slabs  # nothing in memory
    assert files[0].stat().st_size == disk.nbytes == sum(n for *_, n in memory.index.values()) * memory.bytes_per_token()
    (m_states, m_mask), (d_states, d_mask) = memory.states(TEXTS), disk.states(TEXTS)
    assert torch.equal(m_mask, d_mask) and torch.equal(m_states, d_states)
    assert disk.hits == len(TEXTS)
    del disk
    gc.collect()
    assert not list((tmp_path / "cache").iterdir())  # its private folder went with it


def test_encoder_cache_is_bounded_and_needs_a_frozen_encoder(tiny_parts):
    bridge = make(tiny_parts)
    cache = EncoderStateCache(bridge, max_gb=1e-7)
    with pytest.raises(ConfigError, match="--encoder-cache-gb"):
        cache.check_fits(bridge.token_lengths(TEXTS * 10))
    assert EncoderStateCache(bridge, max_gb=1).check_fits(bridge.token_lengths(TEXTS)) > 0
    unfrozen = make(tiny_parts, freeze_encoder=False)
    with pytest.raises(ConfigError, match="frozen encoder"):
        EncoderStateCache(unfrozen)


def padding(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_length_buckets_cover_every_example_once_with_less_padding():
    generator = torch.Generator().manual_seed(1)
    lengths = torch.randint(5, 200, (1000,), generator=generator).tolist()
    for epoch in range(2):
        plain = epoch_batches(1000, 8, seed=0, epoch=epoch)
        bucketed = epoch_batches(1000, 8, seed=0, epoch=epoch, lengths=lengths)
        assert sorted(i for b in bucketed for i in b) == list(range(1000))
        assert len(bucketed) == len(plain) == 125
        assert padding(bucketed, lengths) < 0.2 * padding(plain, lengths)
    assert epoch_batches(1000, 8, 0, 0, lengths) != epoch_batches(1000, 8, 0, 1, lengths)  # reshuffled per epoch
    assert epoch_batches(1000, 8, 0, 0, lengths) == epoch_batches(1000, 8, 0, 0, lengths)  # deterministic


def test_bucketed_batches_give_the_same_per_example_losses(tiny_parts):
    bridge = make(tiny_parts, "global_softmax")
    lengths = bridge.token_lengths(TEXTS)
    order = sorted(range(len(TEXTS)), key=lambda i: lengths[i])
    ids = bridge.target_ids(TARGETS)
    mixed = bridge(ids, **bridge.tokenize(TEXTS)).example_loss
    by_length = bridge([ids[i] for i in order], **bridge.tokenize([TEXTS[i] for i in order])).example_loss
    assert torch.allclose(mixed[order], by_length, atol=1e-5)


def test_bf16_autocast_stays_close_to_fp32(tiny_parts):
    from layerbridge.evaluation.recipe import autocast

    bridge = make(tiny_parts)
    ids = bridge.target_ids(TARGETS)
    fp32 = bridge(ids, **bridge.tokenize(TEXTS)).example_loss
    scores32 = bridge.score(TEXTS, ["Sports", "Political", "Science"])
    seen = []  # what the LLM's matmuls compute in (its residual stream stays float32)
    hook = bridge.llm.model.layers[0].mlp.down_proj.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    with autocast(bridge, "bf16"):
        bf16 = bridge(ids, **bridge.tokenize(TEXTS)).example_loss
        scores16 = bridge.score(TEXTS, ["Sports", "Political", "Science"])
    hook.remove()
    assert seen and set(seen) == {torch.bfloat16}  # autocast reached the frozen LLM
    assert torch.allclose(fp32, bf16, rtol=0.03, atol=0.03), (fp32, bf16)
    assert torch.allclose(scores32, scores16, rtol=0.03, atol=0.05)
    assert not torch.equal(fp32, bf16)  # bf16 really ran


def test_frozen_models_held_in_bf16_train_and_match_fp32(tiny_parts):
    from layerbridge.evaluation.recipe import autocast

    encoder, enc_tok, llm, llm_tok = tiny_parts
    fp32 = make((encoder, enc_tok, llm, llm_tok)).eval()  # no dropout: both see the same function
    ids = fp32.target_ids(TARGETS)
    out32 = fp32(ids, **fp32.tokenize(TEXTS))
    out32.loss.backward()
    reference = out32.example_loss.detach()
    bf16 = make((copy.deepcopy(encoder).to(torch.bfloat16), enc_tok, copy.deepcopy(llm).to(torch.bfloat16), llm_tok))
    bf16.load_state_dict(fp32.trainable_state_dict(), strict=False)
    bf16.eval()
    with autocast(bf16, "bf16"):
        out = bf16(ids, **bf16.tokenize(TEXTS))
    out.loss.backward()
    assert torch.allclose(out.example_loss.detach(), reference, rtol=0.05, atol=0.05)
    # the trained weights' gradients through the bf16-held models point where the float32 ones do
    for name, param in bf16.named_parameters():
        if param.requires_grad:
            ref = dict(fp32.named_parameters())[name].grad
            assert F.cosine_similarity(param.grad.flatten().float(), ref.flatten(), dim=0) > 0.98, name


def test_planned_cache_gives_the_same_states_whichever_batch_asks_first(tiny_parts):
    """Encoding a text in different batches changes float32 results by ~1e-8; with `plan` the cache
    encodes fixed pages, so a resumed run or another process split trains on identical states."""
    bridge = make(tiny_parts, "global_softmax")
    lengths = bridge.token_lengths(TEXTS)
    first, second = EncoderStateCache(bridge), EncoderStateCache(bridge)
    for cache in (first, second):
        cache.plan(TEXTS, lengths, page_size=2)
    first.states(TEXTS[:1]), first.states(TEXTS[1:])
    second.states([TEXTS[3]]), second.states(TEXTS[:3])
    for text in TEXTS:
        a, b = first.states([text])[0], second.states([text])[0]
        assert torch.equal(a, b), text


@pytest.mark.parametrize("fusion", ["last", "token_softmax"])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients_and_recomputes_the_llm(tiny_parts, fusion):
    """Checkpointed: the same loss and gradients, each LLM layer run twice per step (forward, then
    recomputed in the backward), evaluation never checkpointed, and a second bridge sharing the LLM
    (as compare's runs do) left unchecked."""
    bridge = make(tiny_parts, fusion).train()
    bridge.fusion.eval()  # the gate's dropout off: both passes see the same function
    ids, enc = bridge.target_ids(TARGETS), bridge.tokenize(TEXTS)

    def runs_per_step(b):
        calls = []
        hook = b.llm.model.layers[0].mlp.register_forward_pre_hook(lambda *_: calls.append(1))  # inside the checkpoint
        loss = b(ids, **enc).loss
        grads = torch.autograd.grad(loss, [p for p in b.parameters() if p.requires_grad])
        hook.remove()
        return loss, grads, len(calls)

    plain, plain_grads, plain_calls = runs_per_step(bridge)
    other = make(tiny_parts, fusion).train()  # the same LLM object
    bridge.checkpoint_llm_layers()
    checkpointed, checkpointed_grads, calls = runs_per_step(bridge)
    assert (plain_calls, calls) == (1, 2)
    assert runs_per_step(other)[2] == 1  # the other bridge on the same LLM is not checkpointed
    layer = bridge.llm.model.layers[0]
    assert not layer.training and not layer.gradient_checkpointing  # the LLM is left as it was
    assert not bridge.llm.model.layers[0].self_attn.training and not bridge.llm.training
    torch.testing.assert_close(checkpointed, plain)
    for a, b in zip(plain_grads, checkpointed_grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    bridge.eval()
    with torch.enable_grad():
        assert runs_per_step(bridge)[2] == 1  # evaluation mode: never checkpointed
    assert not bridge.llm.get_input_embeddings()._forward_hooks  # no input-grad hook left on the shared LLM


def test_gradient_checkpointing_refuses_the_cross_attention_injection(tiny_parts):
    bridge = make(tiny_parts, injection="cross_attention")
    with pytest.raises(ConfigError, match="injection input only"):
        bridge.checkpoint_llm_layers()


def autograd_node_names(t: torch.Tensor) -> set[str]:
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            stack += [g for g, _ in fn.next_functions]
    return {type(fn).__name__ for fn in seen}


def test_cpu_bf16_training_takes_the_math_attention_kernel_with_the_same_gradients(tiny_parts, monkeypatch):
    """A CPU bf16 training step runs the LLM's attention through the math kernel (no flash backward
    in its graph) and gets the gradients the flash kernel gives; over budget (all layers' probabilities,
    one layer's when checkpointed), in fp32 or without gradients, torch's own choice stays."""
    import layerbridge.bridge.attention_kernel as attention_kernel

    bridge = make(tiny_parts, "last").train()
    ids, enc = bridge.target_ids(TARGETS), bridge.tokenize(TEXTS)
    params = [p for p in bridge.parameters() if p.requires_grad]

    def step(dtype=torch.bfloat16):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            loss = bridge(ids, **enc).loss
        return autograd_node_names(loss), torch.autograd.grad(loss, params)

    math_nodes, math_grads = step()
    monkeypatch.setattr(attention_kernel, "MATH_BUDGET_BYTES", 0)
    flash_nodes, flash_grads = step()
    flash = "ScaledDotProductFlashAttentionForCpuBackward0"
    assert flash not in math_nodes and flash in flash_nodes
    for a, b in zip(flash_grads, math_grads):
        assert (b.float() - a.float()).norm() <= 0.05 * a.float().norm()  # bf16 rounding apart
    monkeypatch.undo()
    assert flash in step(torch.float32)[0]  # fp32: the default kernel
    config = bridge.llm.config
    embeds = torch.zeros(2, 5, config.hidden_size, dtype=torch.bfloat16, requires_grad=True)
    assert attention_kernel.prefers_math(embeds, config, checkpointed=False)
    heads, head_dim, _ = attention_kernel.attention_dims(config)
    one_layer = attention_kernel.math_kernel_bytes(2, 5, heads, head_dim, 1)
    monkeypatch.setattr(attention_kernel, "MATH_BUDGET_BYTES", one_layer)  # checkpointed: one layer's at a time
    assert attention_kernel.prefers_math(embeds, config, checkpointed=True)
    assert not attention_kernel.prefers_math(embeds, config, checkpointed=False)
    monkeypatch.undo()
    assert not attention_kernel.prefers_math(embeds.detach(), config, checkpointed=False)  # nothing to train
    with torch.no_grad():
        assert not attention_kernel.prefers_math(embeds, config, checkpointed=False)


def test_checkpointed_layers_recompute_with_the_kernel_their_forward_had(tiny_parts, monkeypatch):
    """Under gradient checkpointing the backward recomputes each layer outside the LLM call; it
    must take the forward's kernel (the math kernel in a CPU bf16 step), not torch's default, at
    every recomputation (a retained graph's second backward too)."""
    from torch.nn.attention import SDPBackend

    from layerbridge.bridge.attention_kernel import enabled_kernels

    bridge = make(tiny_parts, "last").train()
    bridge.checkpoint_llm_layers()
    before = enabled_kernels()
    enc = bridge.tokenize(TEXTS)
    states = bridge.encoder_states(**enc)  # the encoder's own attention calls are not the LLM's
    seen, sdpa = [], F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: seen.append(enabled_kernels()) or sdpa(*a, **k))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = bridge(bridge.target_ids(TARGETS), attention_mask=enc["attention_mask"], encoder_states=states).loss
    loss.backward(retain_graph=True)
    loss.backward()  # a kept graph recomputes again, with the same kernel
    assert len(seen) == 3 * len(bridge.llm.model.layers)  # each layer's forward, then two recomputations
    assert all(kernels == [SDPBackend.MATH] for kernels in seen)
    assert enabled_kernels() == before  # torch's choice again after the step
