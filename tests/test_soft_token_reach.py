"""studies/generation/soft_token_reach.py: the soft tokens read as words. A bridge whose soft tokens
are the LLM's own embeddings of the text (the LLM-embeddings encoder, identity projector, an encoder
tokenizer with the same ids that adds <s> .. </s>) lands every soft token on its own word; against
other sentences' references it lands only on shared words; the special tokens are not read."""
import json

import pytest

from layerbridge import BridgeConfig, LayerBridge
from layerbridge.tasks import Example
from studies.generation.soft_token_reach import evaluation_seed, language_scores, llm_words, word

TEXTS = ["The match ended with a late goal and the fans cheered",
         "Parliament passed the new budget after a long debate",
         "The company reported higher profits this quarter"]


def test_words_are_lower_cased_tokens_with_a_letter_or_digit():
    assert [word(t) for t in (" The", "goal", " 35", ".", " ", "),")] == ["the", "goal", "35", None, None, None]


@pytest.fixture
def copying_bridge(tiny_parts):
    from layerbridge.sources.llm_embeddings import llm_embedding_encoder

    _, encoder_tok, llm, llm_tok = tiny_parts  # the same BPE; the encoder's adds <s> .. </s>
    config = BridgeConfig(encoder="llm-embeddings:tiny", llm="tiny", fusion="last", layers="all+embeddings",
                          projector_init="identity")
    bridge = LayerBridge(config, *llm_embedding_encoder(llm, encoder_tok), llm, llm_tok).eval()
    assert bridge.tokenize(TEXTS[:1])["input_ids"][0, 0] == encoder_tok.bos_token_id
    return bridge, *llm_words(bridge)


def test_soft_tokens_that_are_the_references_own_embeddings_reach_all_of_it(copying_bridge):
    bridge, table, vocabulary = copying_bridge
    examples = [Example(id=f"t/eng_Latn/test/{i}", text=t, label=-1, lang="eng_Latn", target=t) for i, t in enumerate(TEXTS)]
    scores = language_scores(bridge, examples, table, vocabulary, batch_size=2)  # two batches, padding in the first
    assert scores["sentences"] == 3
    assert scores["reach"] == pytest.approx(1.0)
    assert scores["precision"] == pytest.approx((1 + 1 + 20 / 21) / 3)  # " " (a token of the third text) is no word
    # against the other sentences' references only the shared words ("the", "a") are found
    assert 0 < scores["reach_other"] < 0.35 and 0 < scores["precision_other"] < 0.35


def test_soft_tokens_of_another_sentence_reach_only_the_shared_words(copying_bridge):
    bridge, table, vocabulary = copying_bridge
    examples = [Example(id=f"t/x/test/{i}", text=t, label=-1, lang="x", target=TEXTS[(i + 1) % 3]) for i, t in enumerate(TEXTS)]
    scores = language_scores(bridge, examples, table, vocabulary)
    assert scores["reach"] < 0.35 and scores["precision"] < 0.35


def test_the_report_sets_reach_beside_chrf_per_language_and_bridge(tmp_path):
    import json

    from test_bitext import fake_bitext_seed
    from tools import generation_report, run_record

    folder = tmp_path / "bitext" / "seed0"
    fake_bitext_seed(folder, 0, {"eng_Latn": 70.0, "sin_Sinh": 15.0, "yor_Latn": 11.0, "tam_Taml": 13.0},
                     {"eng_Latn": 68.0, "sin_Sinh": 21.0, "yor_Latn": 13.0, "tam_Taml": 17.0})
    assert generation_report.reach_block(tmp_path)[0].startswith("(not measured yet")
    for run, reach in (("english-only", {"eng_Latn": 0.5, "sin_Sinh": 0.2, "yor_Latn": 0.1, "tam_Taml": 0.15}),
                       ("stage2", {"eng_Latn": 0.4, "sin_Sinh": 0.3, "yor_Latn": 0.2, "tam_Taml": 0.25})):
        record = json.loads((folder / run / run_record.RECORD).read_text())
        low = ["sin_Sinh", "yor_Latn", "tam_Taml"]
        record["diagnostics"] = {"soft-token-reach": {
            "limit": 64, "languages": {lang: {"reach": r, "reach_other": 0.05} for lang, r in reach.items()},
            "summary": {"low_resource_languages": low, "low_resource_reach": sum(reach[lang] for lang in low) / 3,
                        "low_resource_reach_other": 0.05}}}
        (folder / run / run_record.RECORD).write_text(json.dumps(record))
    lines = generation_report.reach_block(tmp_path)
    assert lines[2] == "| language | English only | stage 2 (from the 200-step stage 1) |"
    assert "| sin_Sinh (low) | 20% (5%) · 15.0 | 30% (5%) · 21.0 |" in lines
    assert "| eng_Latn | 50% (5%) · 70.0 | 40% (5%) · 68.0 |" in lines
    assert "| **low-resource average** | **15% (5%) · 13.0** | **25% (5%) · 17.0** |" in lines
    assert lines[-2:] == ["- English only: r = 1.00", "- stage 2 (from the 200-step stage 1): r = 1.00"]


def test_the_sentences_are_those_the_runs_evaluation_drew(tmp_path):
    """compare evaluates with the training seed (its own 64-sentence sample): reach reads the same sentences."""
    assert evaluation_seed(tmp_path) == 0  # never evaluated: evaluate's default
    (tmp_path / "eval-generation").mkdir()
    (tmp_path / "eval-generation" / "results.json").write_text(json.dumps({"seed": 1, "languages": {}}))
    assert evaluation_seed(tmp_path) == 1
