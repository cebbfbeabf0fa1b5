"""Unit tests of the bridge on tiny random models: shapes, masks, padding invariance, gradients."""

import pytest
import torch
import torch.nn.functional as F

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.errors import ConfigError
from layerbridge.fusion import FUSIONS

TEXTS = [
    "The match ended with a late goal.",
    "Parliament passed the budget after a long debate about taxes and schools.",
    "ශ්‍රී ලංකා ක්‍රිකට්",
]
TARGETS = ["Sports", "Political", "Sports"]


def make(parts, fusion="token_softmax", **kw):
    return LayerBridge(BridgeConfig(encoder="tiny-enc", llm="tiny-llm", fusion=fusion, **kw), *parts)


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_same_loss_alone_and_in_padded_batch(tiny_parts, fusion):
    bridge = make(tiny_parts, fusion)
    batch = bridge.loss(TEXTS, TARGETS).example_loss
    for i, (text, target) in enumerate(zip(TEXTS, TARGETS)):
        alone = bridge.loss([text], [target]).example_loss[0]
        assert torch.allclose(alone, batch[i], atol=1e-5), (fusion, i, alone, batch[i])


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_layer_weights_sum_to_one_and_padding_gets_none(tiny_parts, fusion):
    bridge = make(tiny_parts, fusion)
    enc = bridge.tokenize(TEXTS)
    mask = enc["attention_mask"]
    assert (mask == 0).any(), "the batch must contain padding for this test"
    states = bridge.encoder_states(**enc)
    layers = 1 if fusion == "last" else 4  # the tiny encoder's 4 transformer layers, embeddings skipped; `last` reads one
    assert states.shape[2] == layers
    fused, weights = bridge.fusion(states, mask)
    assert weights.shape == mask.shape + (layers,)
    real = mask.bool()
    assert torch.allclose(weights[real].sum(-1), torch.ones(int(real.sum())), atol=1e-5)
    assert weights[~real].abs().sum() == 0
    assert fused[~real].abs().sum() == 0


def test_only_bridge_parameters_get_gradients(tiny_parts):
    bridge = make(tiny_parts).train()
    bridge.loss(TEXTS, TARGETS).loss.backward()
    for name, param in bridge.named_parameters():
        if name.startswith(("llm.", "encoder.")):
            assert not param.requires_grad and param.grad is None, name
        elif param.requires_grad:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert not bridge.llm.training and not bridge.encoder.training  # frozen modules stay in eval
    assert bridge.fusion.training


def test_unfrozen_encoder_gets_gradients(tiny_parts):
    bridge = make(tiny_parts, freeze_encoder=False).train()
    bridge.loss(TEXTS, TARGETS).loss.backward()
    assert bridge.encoder.training
    grads = [p.grad for p in bridge.encoder.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert any(k.startswith("encoder.") for k in bridge.trainable_state_dict())


def test_target_only_logits_match_full_vocabulary_computation(tiny_parts):
    bridge = make(tiny_parts, "global_softmax")
    enc = bridge.tokenize(TEXTS)
    soft, _, _ = bridge.soft_tokens(bridge.encoder_states(**enc), enc["attention_mask"])
    inputs = bridge.llm_inputs(soft, enc["attention_mask"], bridge.target_ids(TARGETS))
    fast = bridge.target_log_probs(inputs)
    full = bridge.llm(
        inputs_embeds=inputs.inputs_embeds, attention_mask=inputs.attention_mask, position_ids=inputs.position_ids
    ).logits.float()
    log_probs = F.log_softmax(full, -1)[inputs.target_rows, inputs.target_positions, inputs.target_ids]
    assert torch.allclose(fast, log_probs, atol=1e-5)


def test_left_padding_layout(tiny_parts):
    bridge = make(tiny_parts, "last")
    enc = bridge.tokenize(TEXTS)
    soft, _, _ = bridge.soft_tokens(bridge.encoder_states(**enc), enc["attention_mask"])
    ids = bridge.target_ids(TARGETS)
    inputs = bridge.llm_inputs(soft, enc["attention_mask"], ids)
    n_real = enc["attention_mask"].sum(1)
    lengths = 1 + n_real + 1 + torch.tensor([len(t) for t in ids])  # BOS + soft + boundary + targets
    T = inputs.inputs_embeds.shape[1]
    assert T == int(lengths.max())
    assert torch.equal(inputs.attention_mask.sum(1), lengths)
    for b in range(len(TEXTS)):
        pad = T - int(lengths[b])
        assert inputs.attention_mask[b, :pad].sum() == 0 and inputs.attention_mask[b, pad:].all()
        assert inputs.position_ids[b, pad] == 0 and inputs.position_ids[b, -1] == lengths[b] - 1
        bos = bridge.llm.get_input_embeddings().weight[bridge.bos_id]
        assert torch.equal(inputs.inputs_embeds[b, pad], bos)
        boundary_at = pad + 1 + int(n_real[b])
        assert torch.equal(inputs.inputs_embeds[b, boundary_at], bridge.end_boundary)
    # every target token is predicted from the position just before it, the last one is EOS
    assert (inputs.target_ids[inputs.target_rows == 0][-1]) == bridge.eos_id


def test_score_equals_summed_loss_of_each_candidate(tiny_parts):
    bridge = make(tiny_parts)
    candidates = ["Sports", "Political", "Very Negative"]
    scores = bridge.score(TEXTS[:2], candidates)
    assert scores.shape == (2, 3)
    # the shared-prefix KV cache gives the same scores as full sequences per candidate
    assert torch.allclose(scores, bridge.score(TEXTS[:2], candidates, shared_prefix=False), atol=1e-4)
    for i, text in enumerate(TEXTS[:2]):
        for j, cand in enumerate(candidates):
            n = len(bridge.target_ids([cand])[0])
            expected = -bridge.loss([text], [cand]).example_loss[0] * n
            assert torch.allclose(scores[i, j], expected, atol=1e-4)


def scripted_llm(tokenizer, script: dict[str, int]):
    """A tiny Llama whose greedy next token depends only on the current one: its layers add nothing
    (attention and MLP outputs zeroed, so each position's hidden state is its own input embedding),
    token t's embedding is a basis direction, and the untied LM head maps that direction to
    script's next token. `script` maps "boundary" (the bridge's end-of-soft-tokens vector, given
    direction 0) or a token id (as str) to the id that must follow."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=400, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=0, eos_token_id=2, pad_token_id=1, tie_word_embeddings=False)
    llm = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for layer in llm.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        llm.lm_head.weight.zero_()
        for direction, (token, following) in enumerate(script.items()):
            if token != "boundary":
                llm.model.embed_tokens.weight[int(token)] = 0.0
                llm.model.embed_tokens.weight[int(token), direction] = 1.0
            llm.lm_head.weight[following, direction] = 10.0
    return llm


def test_generate_is_greedy_and_stops(tiny_parts):
    bridge = make(tiny_parts)
    out = bridge.generate(TEXTS, max_new_tokens=5)
    assert len(out) == 3 and all(isinstance(o, str) for o in out)
    # batched greedy generation equals generating each text alone
    assert out == [bridge.generate([t], max_new_tokens=5)[0] for t in TEXTS]


@pytest.mark.parametrize("stop", ["eos", "newline"])
def test_generation_stops_at_eos_and_at_a_newline(tiny_parts, stop):
    """On a scripted LLM that writes two words and then EOS (or a newline, then more words), the
    answer is the two words: generation stops there, whatever max_new_tokens allows."""
    encoder, encoder_tokenizer, _, tokenizer = tiny_parts
    first, second = tokenizer.encode("match")[0], tokenizer.encode(" goal")[0]
    newline, more = tokenizer.encode("\n")[0], tokenizer.encode(" film")[0]
    end = tokenizer.eos_token_id if stop == "eos" else newline
    script = {"boundary": first, str(first): second, str(second): end, str(newline): more, str(more): more,
              str(tokenizer.eos_token_id): more}  # a row that did not stop at EOS would run on
    bridge = LayerBridge(BridgeConfig(encoder="tiny-enc", llm="tiny-llm", fusion="last"), encoder, encoder_tokenizer,
                         scripted_llm(tokenizer, script), tokenizer)
    with torch.no_grad():
        bridge.end_boundary.zero_()
        bridge.end_boundary[..., 0] = 1.0  # direction 0: the script's "boundary"
    words = tokenizer.decode([first, second]).strip()
    assert bridge.generate(TEXTS, max_new_tokens=12) == [words] * len(TEXTS)
    if stop == "newline":  # without the newline stop the row runs on to the cap
        free = bridge.generate(TEXTS[:1], max_new_tokens=12, stop_at_newline=False)[0]
        assert free == tokenizer.decode([first, second, newline] + [more] * 9).strip(), free


def test_layer_weights_for_inspection(tiny_parts):
    bridge = make(tiny_parts, layers="all+embeddings")
    info = bridge.layer_weights(TEXTS[:2])
    assert info[0]["layers"] == [0, 1, 2, 3, 4]
    assert info[0]["weights"].shape == (len(info[0]["tokens"]), 5)
    assert info[0]["tokens"][0] == "<s>"


@pytest.mark.parametrize("fusion", ["global_softmax", "token_softmax"])
def test_last_layer_initialisation_returns_last_layer(tiny_parts, fusion):
    options = {"init": "last", "last_layer_logit": 30.0}
    bridge = make(tiny_parts, fusion, fusion_options=options)
    enc = bridge.tokenize(TEXTS)
    states = bridge.encoder_states(**enc)
    fused, _ = bridge.fusion(states, enc["attention_mask"])
    last = states[:, :, -1] * enc["attention_mask"].unsqueeze(-1)
    assert torch.allclose(fused, last, atol=1e-5)


def test_projectors_and_layer_choices(tiny_parts):
    mlp = make(tiny_parts, "last", projector="mlp")
    assert mlp.parameter_counts()["projector"] == 32 * 64 + 64 + 64 * 48 + 48
    upper = make(tiny_parts, "global_softmax", layers="upper_half", normalize="layernorm")
    assert upper.layer_indices == [3, 4]
    assert upper.fusion.logits.shape == (2,)
    out = upper.loss(TEXTS, TARGETS)
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"fusion": "attention_pool"}, "unknown fusion"),
        ({"fusion": "token_softmax", "fusion_options": {"heads": 2}}, "no option"),
        ({"fusion": "token_softmax", "fusion_options": {"init": "zeros"}}, "init must be"),
        ({"projector": "conv"}, "projector must be"),
        ({"layers": "bottom"}, "layers must be"),
        ({"layers": [1, 9]}, "out of range"),
        ({"normalize": "rms"}, "normalize must be"),
        ({"encoder_hidden_size": 1024}, "encoder_hidden_size=1024"),
        ({"fusion": "token_softmax", "fusion_options": {"gate_heads": 5}}, "does not divide"),
    ],
)
def test_bad_configs_are_rejected_clearly(tiny_parts, settings, message):
    with pytest.raises(ConfigError, match=message):
        LayerBridge(BridgeConfig(encoder="e", llm="l", **settings), *tiny_parts)


def test_scale_normalisation_matches_every_layer_to_the_last(tiny_parts):
    bridge = make(tiny_parts, "global_softmax", normalize="scale")
    enc = bridge.tokenize(TEXTS)
    states = bridge.encoder_states(**enc)  # (B, S, L, D)
    rms = states.pow(2).mean(-1).sqrt()  # (B, S, L)
    assert torch.allclose(rms, rms[:, :, -1:].expand_as(rms), rtol=1e-4)
    plain = make(tiny_parts, "global_softmax").encoder_states(**enc)
    assert torch.equal(states[:, :, -1], plain[:, :, -1])  # the last layer is untouched
    cosine = torch.nn.functional.cosine_similarity(states, plain, dim=-1)
    assert torch.allclose(cosine, torch.ones_like(cosine), atol=1e-4)  # directions kept


def test_llm_alone_baseline_starts_from_the_llm_reading_its_own_embeddings(tiny_parts):
    from layerbridge.sources.llm_embeddings import llm_embedding_encoder

    _, _, llm, llm_tok = tiny_parts
    config = BridgeConfig(encoder="llm-embeddings:tiny", llm="tiny", fusion="last", layers="all+embeddings",
                          projector_init="identity", soft_prompt_length=3)
    bridge = LayerBridge(config, *llm_embedding_encoder(llm, llm_tok), llm, llm_tok)
    assert bridge.layer_indices == [0]
    assert bridge.parameter_counts()["soft_prompt"] == 3 * 48
    enc = bridge.tokenize(TEXTS)
    soft, _, _ = bridge.soft_tokens(bridge.encoder_states(**enc), enc["attention_mask"])
    real = enc["attention_mask"].bool()
    assert torch.allclose(soft[real], llm.get_input_embeddings()(enc["input_ids"])[real], atol=1e-6)
    inputs = bridge.llm_inputs(soft, enc["attention_mask"], bridge.target_ids(TARGETS))
    n_real = enc["attention_mask"].sum(1)
    assert torch.equal(inputs.attention_mask.sum(1), 1 + 3 + n_real + 1 + torch.tensor([len(t) for t in bridge.target_ids(TARGETS)]))
    out = bridge.loss(TEXTS, TARGETS)
    out.loss.backward()
    assert bridge.soft_prompt.grad is not None and bridge.soft_prompt.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="identity"):
        make(tiny_parts, "last", projector_init="identity")  # 32 -> 48: not square
    with pytest.raises(ConfigError, match="selects no hidden state"):
        LayerBridge(BridgeConfig(encoder="x", llm="y", fusion="last"), *llm_embedding_encoder(llm, llm_tok), llm, llm_tok)


def test_length_normalised_ranking_divides_by_label_tokens_with_eos(tiny_parts):
    from layerbridge.evaluation.predict import predict

    bridge = make(tiny_parts, "global_softmax")
    labels = ["Sports", "Very Political Science", "Business"]  # label words of different token lengths
    tokens = torch.tensor([len(ids) for ids in bridge.target_ids(labels)], dtype=torch.float32)
    assert len(set(tokens.tolist())) > 1
    scores = bridge.score(TEXTS, labels)
    summed, _ = predict(bridge, TEXTS, labels, mode="rank")
    mean, answers = predict(bridge, TEXTS, labels, mode="rank_mean")
    assert summed == scores.argmax(-1).tolist()
    assert mean == (scores / tokens).argmax(-1).tolist() and answers == [labels[i] for i in mean]


@pytest.mark.parametrize("parameterisation, expected_rate", [("paper", 100.0), ("plain", 1.0)])
def test_global_softmax_logits_move_at_the_rate_their_parameterisation_says(parameterisation, expected_rate):
    """One AdamW step at lr moves each raw parameter by about lr: the layer logits the softmax reads
    then move by tau * lr (the authors' tau = 100) or by lr ("plain")."""
    from layerbridge.fusion import build_fusion

    torch.manual_seed(0)
    fusion = build_fusion("global_softmax", {"parameterisation": parameterisation}, num_layers=4, hidden_size=8)
    states, mask = torch.randn(2, 5, 4, 8), torch.ones(2, 5)
    lr = 1e-3
    optimizer = torch.optim.AdamW([p for p in fusion.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    before = fusion.layer_logits().detach().clone()
    fused, _ = fusion(states, mask)
    (fused * torch.randn_like(fused)).sum().backward()
    assert fusion.temperature_delta.grad is None or fusion.temperature_delta.grad.abs().item() == 0.0  # uniform start
    optimizer.step()
    moved = (fusion.layer_logits().detach() - before).abs().max().item()
    assert moved == pytest.approx(expected_rate * lr, rel=1e-2)


def test_weight_entropy_and_the_token_gates_entropy_penalty(tiny_parts):
    import math

    from layerbridge.fusion.base import weight_entropy

    uniform, one_hot = torch.full((1, 3, 4), 0.25), torch.eye(4)[[0, 1, 2]][None]
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(weight_entropy(uniform, mask), torch.tensor([math.log(4)]))
    torch.testing.assert_close(weight_entropy(one_hot, mask), torch.tensor([0.0]))

    plain = make(tiny_parts, "token_softmax")
    out = plain.loss(TEXTS, TARGETS)
    assert out.example_penalty is None and out.weight_entropy.shape == (len(TEXTS),)
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="token_softmax",
                                      fusion_options={"entropy_weight": 0.5, "gate_dropout": 0.0}), *tiny_parts)
    out = bridge.loss(TEXTS, TARGETS)
    torch.testing.assert_close(out.example_penalty, -0.5 * out.weight_entropy)
    out.example_penalty.sum().backward()  # descending the penalty alone spreads the weights
    with torch.no_grad():
        for p in bridge.fusion.parameters():
            if p.grad is not None:
                p -= 0.01 * p.grad
    assert bridge.loss(TEXTS, TARGETS).weight_entropy.mean() > out.weight_entropy.mean()


def test_label_smoothing_is_the_smoothed_cross_entropy_of_each_target_token(tiny_parts):
    bridge = make(tiny_parts, "global_softmax").eval()
    ids, enc = bridge.target_ids(TARGETS), bridge.tokenize(TEXTS)
    plain = bridge(ids, **enc).example_loss
    smooth = bridge(ids, label_smoothing=0.1, **enc).example_loss
    assert not torch.allclose(smooth, plain)
    # per token: (1 - eps) * nll + eps * mean over the vocabulary of -log p, averaged per example
    soft, _, _ = bridge.soft_tokens(bridge.encoder_states(**enc), enc["attention_mask"])
    inputs = bridge.llm_inputs(soft, enc["attention_mask"], ids)
    log_p = torch.log_softmax(bridge.target_logits(inputs), dim=-1)
    per_token = -(0.9 * log_p.gather(1, inputs.target_ids[:, None])[:, 0] + 0.1 * log_p.mean(-1))
    expected = torch.zeros(len(ids)).index_add(0, inputs.target_rows, per_token) / torch.tensor([len(t) for t in ids])
    torch.testing.assert_close(smooth, expected, rtol=1e-5, atol=1e-5)


def test_layer_drop_hides_layers_in_training_only(tiny_parts):
    bridge = make(tiny_parts, fusion_options={"layer_drop": 0.5})
    enc = bridge.tokenize(TEXTS)
    states, mask = bridge.encoder_states(**enc), enc["attention_mask"]
    real = mask.bool()
    bridge.fusion.eval()
    full = bridge.fusion.layer_weights(states, mask)[real]
    assert (full > 0).all()  # every layer gets some weight at evaluation
    bridge.fusion.train()
    bridge.fusion.gate.eval()  # the gate's own dropout off: only layer_drop acts
    torch.manual_seed(0)
    dropped = bridge.fusion.layer_weights(states, mask)[real]
    torch.testing.assert_close(dropped.sum(-1), torch.ones(len(dropped)))
    hidden = dropped == 0
    assert 0.3 < hidden.float().mean() < 0.7 and (~hidden).any(-1).all()  # about half hidden, never all of a token's
    kept = full.masked_fill(hidden, 0)
    torch.testing.assert_close(dropped, kept / kept.sum(-1, keepdim=True))  # the rest renormalised
    with pytest.raises(ConfigError, match="layer_drop"):
        make(tiny_parts, fusion_options={"layer_drop": 1.0})


def test_perceiver_gives_the_llm_k_soft_tokens_whatever_the_text_length(tiny_parts, tmp_path):
    """The perceiver projector: the LLM reads exactly K soft tokens per text; encoder padding is
    masked (a text alone and in a padded batch gives the same loss); gradients reach the latents;
    a saved bridge loads back to the same scores; its options are validated."""
    bridge = make(tiny_parts, "global_softmax", projector="perceiver", projector_options={"latents": 5, "heads": 2})
    enc = bridge.tokenize(TEXTS)
    assert len(set(enc["attention_mask"].sum(1).tolist())) > 1  # texts of different lengths
    soft, soft_mask, _ = bridge.soft_tokens(bridge.encoder_states(**enc), enc["attention_mask"])
    assert soft.shape == (3, 5, 48) and soft_mask.tolist() == [[1] * 5] * 3
    ids = bridge.target_ids(TARGETS)
    inputs = bridge.llm_inputs(soft, soft_mask, ids)
    assert inputs.attention_mask.sum(1).tolist() == [1 + 5 + 1 + len(t) for t in ids]  # BOS, K, boundary, target
    batch = bridge(ids, **enc).example_loss
    for i in range(3):
        alone = bridge([ids[i]], **bridge.tokenize([TEXTS[i]])).example_loss[0]
        torch.testing.assert_close(alone, batch[i], rtol=1e-5, atol=1e-5)
    bridge.train()
    bridge(ids, **enc).loss.backward()
    assert bridge.projector.latents.grad.abs().sum() > 0 and bridge.fusion.logits.grad is not None
    bridge.eval()
    bridge.save_pretrained(tmp_path / "p")
    loaded = LayerBridge.from_pretrained(tmp_path / "p", models=tiny_parts)
    assert loaded.projector.config.latents == 5
    torch.testing.assert_close(loaded.score(TEXTS, ["Sports", "Science"]), bridge.score(TEXTS, ["Sports", "Science"]))
    with pytest.raises(ConfigError, match="no option"):
        make(tiny_parts, projector="perceiver", projector_options={"queries": 4})
    with pytest.raises(ConfigError, match="'linear' has no option.*'latents'.*known options: \\['pooled'\\]"):
        make(tiny_parts, projector="linear", projector_options={"latents": 4})


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("heads", [1, 4])
def test_the_gates_cls_readout_is_torchs_layer_at_the_cls_position(norm_first, heads):
    """cls_output computes only position 0 of nn.TransformerEncoderLayer: same values and same
    gradients (input and every parameter) as the full layer, and its dropouts act in training."""
    from torch import nn

    from layerbridge.fusion.cls_readout import cls_output

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, heads, 48, dropout=0.0, batch_first=True, norm_first=norm_first)
    x = torch.randn(20, 9, 32, requires_grad=True)
    full, cls = layer(x)[:, 0], cls_output(layer, x)
    torch.testing.assert_close(cls, full, rtol=1e-5, atol=1e-5)
    probe = torch.randn_like(full)
    wrt = [x, *layer.parameters()]
    names = ["x", *(n for n, _ in layer.named_parameters())]
    for name, a, b in zip(names, torch.autograd.grad((full * probe).sum(), wrt), torch.autograd.grad((cls * probe).sum(), wrt)):
        if name == "self_attn.in_proj_bias":  # the key bias (middle third) shifts every score alike: no gradient
            a, b = torch.cat([a[:32], a[64:]]), torch.cat([b[:32], b[64:]])
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # under bf16 autocast too, to bf16's precision
        torch.testing.assert_close(cls_output(layer, x).float(), layer(x)[:, 0].float(), rtol=0.05, atol=0.05)
    layer.dropout.p = layer.dropout1.p = layer.dropout2.p = layer.self_attn.dropout = 0.3
    assert not torch.equal(cls_output(layer, x), cls_output(layer, x))  # dropout on in training
    layer.eval()
    torch.testing.assert_close(cls_output(layer, x), cls, rtol=1e-5, atol=1e-5)  # and off in evaluation


def test_a_deeper_token_gate_runs_its_inner_layers_in_full(tiny_parts):
    bridge = make(tiny_parts, fusion_options={"gate_layers": 2, "gate_heads": 2}).eval()
    enc = bridge.tokenize(TEXTS)
    states, mask = bridge.encoder_states(**enc), enc["attention_mask"]
    fusion, real = bridge.fusion, mask.bool()
    tokens = states[real] + fusion.layer_position
    gated = fusion.gate(torch.cat([fusion.cls.expand(len(tokens), 1, -1), tokens], dim=1))[:, 0]  # torch's whole gate
    expected = torch.softmax(fusion.out(gated), dim=-1)
    torch.testing.assert_close(fusion.layer_weights(states, mask)[real], expected, rtol=1e-5, atol=1e-6)
