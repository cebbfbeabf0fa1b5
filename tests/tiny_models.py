"""Tiny randomly initialised encoder / LLM / tokenizers for fast tests (seconds, no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, trainers
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CORPUS = [
    "The match ended with a late goal and the fans cheered.",
    "Parliament passed the new budget after a long debate.",
    "The company reported higher profits this quarter.",
    "A new phone with a faster chip was released today.",
    "The film won three awards at the festival.",
    "Premise: A man is playing a guitar. Hypothesis: A person makes music. Label: ",
    "Entailment Neutral Contradiction Business Sports Science Political Entertainment",
    "ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය. தமிழ் செய்தி. Habari za michezo.",
]


def tiny_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """Byte-level BPE (any script tokenizes, no unknowns). kind: 'encoder' adds <s> .. </s>."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    if kind == "encoder":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def tiny_encoder(seed: int = 0, vocab_size: int = 400) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=256,
    )
    return BertModel(config, add_pooling_layer=False).eval()


def tiny_llm(seed: int = 1, vocab_size: int = 400) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=0, eos_token_id=2, pad_token_id=1, tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


def save_tiny_models(root: Path) -> tuple[Path, Path]:
    """Write the tiny encoder and LLM as local model folders; returns (encoder_dir, llm_dir)."""
    enc_dir, llm_dir = root / "tiny-encoder", root / "tiny-llm"
    tiny_encoder().save_pretrained(enc_dir)
    tiny_tokenizer("encoder").save_pretrained(enc_dir)
    tiny_llm().save_pretrained(llm_dir)
    tiny_tokenizer("llm").save_pretrained(llm_dir)
    return enc_dir, llm_dir


# A tiny news-topic task: English training and test rows, a few Sinhala test rows.
LABELS = ["Sports", "Political", "Science"]
EN = [
    ("The match ended with a late goal and the fans cheered.", "Sports"),
    ("The team won the cup after extra time.", "Sports"),
    ("Parliament passed the new budget after a long debate.", "Political"),
    ("The president met party leaders about the election.", "Political"),
    ("A new phone with a faster chip was released today.", "Science"),
    ("Scientists measured the speed of the new chip.", "Science"),
]
XX = [("ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය.", "Sports"), ("ජනාධිපති පක්ෂ නායකයින් හමුවිය.", "Political"),
      ("නව දුරකථනය අද නිකුත් විය.", "Science")]


def write_jsonl(path: Path, rows):
    path.write_text("".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n" for t, l in rows),
                    encoding="utf-8")


def save_tiny_news(root: Path, *, sinhala: bool = True, train_repeats: int = 4) -> Path:
    """Write the tiny news task under `root` (data/ and news.yaml): English train (EN x train_repeats)
    and test, and with `sinhala` a low-resource Sinhala test split (xx). Returns the task file."""
    data = root / "data"
    data.mkdir(exist_ok=True)
    write_jsonl(data / "en_train.jsonl", EN * train_repeats)
    write_jsonl(data / "en_test.jsonl", EN)
    languages, files = "[en]", "files:\n  en: {train: data/en_train.jsonl, test: data/en_test.jsonl}\n"
    if sinhala:
        write_jsonl(data / "xx_test.jsonl", XX)
        languages, files = "[en, xx]\nlow_resource: [xx]", files + "  xx: {test: data/xx_test.jsonl}\n"
    task = root / "news.yaml"
    task.write_text("name: tiny_news\nprompt: 'News: {text} Category: '\n"
                    f"label_words: {json.dumps(LABELS)}\ntrain_language: en\nlanguages: {languages}\n" + files,
                    encoding="utf-8")
    return task


def tiny_t5_tokenizer() -> PreTrainedTokenizerFast:
    """mT5's kind of tokenizer: unigram pieces over a Metaspace split, no BOS, "</s>" appended, pad id 0."""
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(CORPUS, trainers.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"],
                                                            unk_token="<unk>", show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>")


def save_tiny_t5(root: Path, kind: str = "mt5", seed: int = 0) -> Path:
    """A tiny mT5 / umT5 checkpoint saved as the hub holds real ones: the whole encoder-decoder model
    (the bridge loads its encoder half only) and its tokenizer, in a local folder."""
    import transformers

    config_class, model_class = {"mt5": ("MT5Config", "MT5ForConditionalGeneration"),
                                 "umt5": ("UMT5Config", "UMT5ForConditionalGeneration")}[kind]
    torch.manual_seed(seed)
    config = getattr(transformers, config_class)(
        vocab_size=320, d_model=32, d_kv=8, d_ff=64, num_layers=3, num_decoder_layers=1, num_heads=4,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0,
    )
    folder = root / f"tiny-{kind}"
    getattr(transformers, model_class)(config).eval().save_pretrained(folder)
    tiny_t5_tokenizer().save_pretrained(folder)
    return folder
