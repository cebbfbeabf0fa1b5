"""The bridge on tiny random configs of the LLM families users bring: Llama, Qwen2, Gemma 2 and 3
(embeddings scaled by sqrt(H) inside the embedding module, logit soft-capping), Mistral, Phi-3,
Cohere (logit_scale) and Granite (logits_scaling). For each: what the bridge computes for tokens
the LLM reads itself equals the LLM's own forward; a training step reaches the bridge; shared-prefix
scoring equals plain scoring; generation runs; a saved bridge scores the same after loading."""

import pytest
import torch
import transformers

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.injection import cross_attention

from tiny_models import tiny_encoder, tiny_tokenizer

SIZES = dict(vocab_size=400, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256, bos_token_id=0, eos_token_id=2, pad_token_id=1)
FAMILIES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", {"head_dim": 12, "final_logit_softcapping": 5.0,
                                                     "query_pre_attn_scalar": 12, "sliding_window": 8}),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", {"head_dim": 12, "final_logit_softcapping": 5.0,
                                                         "query_pre_attn_scalar": 12, "sliding_window": 8}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {}),
    "cohere": ("CohereConfig", "CohereForCausalLM", {"logit_scale": 0.5}),
    "granite": ("GraniteConfig", "GraniteForCausalLM", {"logits_scaling": 4.0, "embedding_multiplier": 2.0}),
}
TEXTS = ["The match ended with a late goal.", "ශ්‍රී ලංකා ක්‍රිකට්", "A phone."]


def family_llm(family: str):
    config_name, model_name, extra = FAMILIES[family]
    torch.manual_seed(1)
    config = getattr(transformers, config_name)(**SIZES, **extra)
    return getattr(transformers, model_name)(config).eval()


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def parts(request):
    return request.param, (tiny_encoder(), tiny_tokenizer("encoder"), family_llm(request.param), tiny_tokenizer("llm"))


def test_tokens_the_llm_reads_itself_score_as_in_its_own_forward(parts):
    """The LLM alone ([BOS] + instruction + text + target through the bridge's assembly) must give
    the log-probs of the LLM's own forward on the same ids: embedding scaling and logit scaling or
    capping are then honoured as the family's code does."""
    _, models = parts
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", llm_input="instruction+text", instruction="Q: "), *models)
    prompt, target = bridge.prompt_ids(TEXTS[:1])[0], bridge.target_ids(["Sports"])[0]
    inputs = bridge.llm_inputs(None, None, [target], [prompt])
    ours = bridge.target_log_probs(inputs)
    ids = torch.tensor([[bridge.bos_id, *prompt, *target]])
    with torch.no_grad():
        logits = bridge.llm(input_ids=ids).logits[0].float()
    theirs = torch.log_softmax(logits, -1)[torch.arange(len(prompt), ids.shape[1] - 1), torch.tensor(target)]
    torch.testing.assert_close(ours.detach(), theirs, atol=1e-4, rtol=1e-4)


def test_train_step_score_generate_and_reload(parts, tmp_path):
    family, models = parts
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="token_softmax"), *models)
    bridge.train()
    out = bridge.loss(TEXTS, ["Sports", "Sports", "Science"])
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert bridge.projector.weight.grad.abs().sum() > 0 and bridge.fusion.out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in bridge.llm.parameters())
    bridge.eval()
    candidates = ["Sports", "Political Science", "Science"]
    shared = bridge.score(TEXTS, candidates)
    torch.testing.assert_close(shared, bridge.score(TEXTS, candidates, shared_prefix=False), atol=1e-4, rtol=1e-4)
    answers = bridge.generate(TEXTS, max_new_tokens=3, stop_at_newline=False)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    bridge.save_pretrained(tmp_path / family)
    loaded = LayerBridge.from_pretrained(tmp_path / family, models=models)
    torch.testing.assert_close(loaded.score(TEXTS, candidates), shared)


def test_the_llm_alone_reads_the_embeddings_the_llm_itself_reads(parts):
    """The LLM-alone reference's "encoder" is the LLM's embedding module, scaling included."""
    from layerbridge.sources.llm_embeddings import llm_embedding_encoder

    _, (_, _, llm, tokenizer) = parts
    encoder, enc_tokenizer = llm_embedding_encoder(llm, tokenizer)
    ids = torch.tensor([enc_tokenizer("The match ended.")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(encoder(input_ids=ids).hidden_states[0], llm.get_input_embeddings()(ids))


def test_cross_attention_injection(parts, tmp_path):
    """LayAlign-style cross-attention on every family: zero gates give exactly the plain bridge's
    scores; with open gates the outputs change, a text alone and in a padded batch get the same
    loss (encoder padding masked), shared-prefix scoring (rows repeated per candidate) equals plain
    scoring, batched generation equals one text at a time, the gates, mixes and adapter train, and
    a saved bridge (its injection weights saved alone) scores the same after loading."""
    family, models = parts
    torch.manual_seed(0)
    plain = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="global_softmax"), *models).eval()
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="global_softmax", injection="cross_attention"),
                         *models).eval()
    bridge.load_state_dict(plain.trainable_state_dict(), strict=False)  # the same bridge, gates at 0
    candidates = ["Sports", "Political Science", "Science"]
    assert torch.equal(bridge.score(TEXTS, candidates), plain.score(TEXTS, candidates))
    assert bridge.parameter_counts()["injection"] == 2 * 4 + 32 * 48 + 48 + 2  # mixes, adapter, gates

    bridge.train()
    out = bridge.loss(TEXTS, ["Sports", "Sports", "Science"])
    out.loss.backward()
    assert (bridge.injection.gate.grad != 0).all()  # every LLM layer's zero gate still learns to open
    with torch.no_grad():
        bridge.injection.gate.fill_(0.5)
        bridge.injection.mix.normal_()
    bridge.zero_grad()
    bridge.loss(TEXTS, ["Sports", "Sports", "Science"]).loss.backward()
    assert bridge.injection.mix.grad.abs().sum() > 0 and bridge.injection.adapter.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in bridge.llm.parameters())
    bridge.eval()
    shared = bridge.score(TEXTS, candidates)
    assert not torch.allclose(shared, plain.score(TEXTS, candidates), atol=1e-3)
    torch.testing.assert_close(shared, bridge.score(TEXTS, candidates, shared_prefix=False), atol=1e-4, rtol=1e-4)
    ids = bridge.target_ids(["Sports", "Sports", "Science"])
    batch = bridge(ids, **bridge.tokenize(TEXTS)).example_loss
    for i in range(len(TEXTS)):
        alone = bridge([ids[i]], **bridge.tokenize([TEXTS[i]])).example_loss[0]
        torch.testing.assert_close(alone, batch[i], atol=1e-4, rtol=1e-4)
    answers = bridge.generate(TEXTS, max_new_tokens=3, stop_at_newline=False)
    assert answers == [bridge.generate([t], max_new_tokens=3, stop_at_newline=False)[0] for t in TEXTS]
    calls = []  # scoring and generation reuse each layer's encoder keys/values: the same outputs
    compute = bridge.injection.encoder_kv
    bridge.injection.encoder_kv = lambda *a, **k: calls.append(a[0]) or compute(*a, **k)
    layers = list(range(SIZES["num_hidden_layers"]))
    assert bridge.generate(TEXTS, max_new_tokens=3, stop_at_newline=False) == answers
    assert sorted(calls) == layers, calls  # once per layer, not once per new token
    calls.clear()
    beams = bridge.generate(TEXTS, max_new_tokens=3, stop_at_newline=False, num_beams=2)
    assert sorted(calls) == layers, calls
    calls.clear()
    torch.testing.assert_close(bridge.score(TEXTS, candidates), shared)
    assert sorted(calls) == layers, calls  # the prefix's rows and the candidates' rows: one encoder side
    bridge.injection.reuse_encoder_side = False
    calls.clear()
    assert bridge.generate(TEXTS, max_new_tokens=3, stop_at_newline=False) == answers
    assert len(calls) == 3 * len(layers)  # without reuse: every layer at every step
    assert bridge.generate(TEXTS, max_new_tokens=3, stop_at_newline=False, num_beams=2) == beams
    torch.testing.assert_close(bridge.score(TEXTS, candidates), shared)
    bridge.injection.reuse_encoder_side = True
    del bridge.injection.encoder_kv
    bridge.save_pretrained(tmp_path / family)
    loaded = LayerBridge.from_pretrained(tmp_path / family, models=models)
    torch.testing.assert_close(loaded.score(TEXTS, candidates), shared)
    assert not any(h for m in models[2].modules() for h in m._forward_hooks.values())  # hooks only while it runs


def test_cross_attention_rows_share_their_text_keys_and_values(parts):
    """Rows that repeat a text (beams, candidates) read its one copy of the encoder side, grouped KV
    heads shared: the same as attention over keys and values repeated per row and per head."""
    _, models = parts
    torch.manual_seed(0)
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="global_softmax", injection="cross_attention"),
                         *models).eval()
    injection, attn = bridge.injection, bridge.llm.base_model.layers[1].self_attn
    heads, kv_heads, head_dim = injection.head_shape(attn)
    with torch.no_grad():
        injection.gate.fill_(0.7)
        states, mask = torch.randn(2, 5, 4, 32), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
        x = torch.randn(2 * 3, 4, 48)  # 3 rows per text, text-major
        added = injection.cross(1, attn, x, injection.encoder_kv(1, attn, x.dtype, states, mask))
        k, v, _ = injection.encoder_kv(1, attn, x.dtype, states.repeat_interleave(3, 0), mask.repeat_interleave(3, 0))
        k, v = (t.repeat_interleave(heads // kv_heads, dim=1) for t in (k, v))  # (rows, heads, S, head_dim)
        q = cross_attention.project_q(attn, x, (heads, kv_heads, head_dim))
        scale = getattr(attn, "scaling", None) or head_dim**-0.5
        logits = (q @ k.transpose(-1, -2)) * scale  # (rows, heads, T, S)
        logits = logits.masked_fill(~mask.repeat_interleave(3, 0).bool()[:, None, None, :], float("-inf"))
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(6, 4, heads * head_dim)
        expected = torch.tanh(torch.tensor(0.7)) * attn.o_proj(out)
    assert added.shape == x.shape
    torch.testing.assert_close(added, expected, atol=1e-5, rtol=1e-4)


def test_gradient_checkpointing_gives_the_same_gradients(parts):
    """Every family's decoder layers are checkpointed by transformers and recompute to the same
    gradients (the layer's dropouts stay off: only its own training flag is set)."""
    _, models = parts
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="global_softmax"), *models).train()
    targets = bridge.target_ids(["Sports", "Sports", "Science"])
    enc = bridge.tokenize(TEXTS)

    def grads():
        return torch.autograd.grad(bridge(targets, **enc).loss, [bridge.projector.weight, bridge.fusion.logits])

    plain = grads()
    bridge.checkpoint_llm_layers()
    assert len(bridge.checkpointed_layers) == SIZES["num_hidden_layers"]
    for a, b in zip(plain, grads()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert not any(layer.gradient_checkpointing for layer in bridge.checkpointed_layers)  # the shared LLM as it was
    with torch.autocast("cpu", dtype=torch.bfloat16):  # CPU bf16: the math attention kernel, forward and recomputation
        bf16 = grads()
    for a, b in zip(plain, bf16):
        assert (b.float() - a).norm() <= 0.1 * a.norm()
