"""Command-line options shared by the commands that build a bridge (inspect, train, compare)."""

from __future__ import annotations

import argparse
import json

from layerbridge.bridge import BridgeConfig
from layerbridge.bridge.config import LLM_INPUTS
from layerbridge.projector import PROJECTOR_INITS, PROJECTORS
from layerbridge.errors import ConfigError
from layerbridge.fusion import FUSIONS
from layerbridge.injection import INJECTIONS


def add_bridge_options(parser: argparse.ArgumentParser, *, fusion_default: str | None = BridgeConfig.fusion) -> None:
    defaults = BridgeConfig()
    g = parser.add_argument_group("bridge")
    g.add_argument("--encoder", default=defaults.encoder,
                   help="built-in name, local folder, .gguf file or hub id (default: %(default)s)")
    g.add_argument("--llm", default=defaults.llm,
                   help="built-in name, local folder, .gguf file or hub id (default: %(default)s)")
    if fusion_default is not None:
        g.add_argument("--fusion", default=fusion_default, choices=list(FUSIONS), help="(default: %(default)s)")
    g.add_argument("--fusion-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a fusion setting, e.g. gate_ffn_size=1024 or init=last (repeatable)")
    g.add_argument("--projector", default=defaults.projector, choices=list(PROJECTORS),
                   help="perceiver: K latent queries read the encoder, the LLM reads K soft tokens (default: %(default)s)")
    g.add_argument("--projector-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a perceiver setting: latents, layers, heads, ffn_mult, dropout (repeatable)")
    g.add_argument("--injection", default=defaults.injection, choices=list(INJECTIONS),
                   help="cross_attention: every LLM layer also attends to the encoder's layers (LayAlign) "
                        "(default: %(default)s)")
    g.add_argument("--injection-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an injection setting, e.g. gate_init=0.1 (repeatable)")
    g.add_argument("--projector-init", default=defaults.projector_init, choices=list(PROJECTOR_INITS),
                   help="lexical: fit a linear projector so soft tokens start as the LLM's embeddings of the same "
                        "English text (docs/generation.md) (default: %(default)s)")
    # --layers / --normalize default to None ("not given"): --paper must tell a user's choice from the default
    g.add_argument("--layers", default=None,
                   help="encoder hidden states fused: all | all+embeddings | upper_half | comma list (0 = embeddings) "
                        f"(default: {defaults.layers})")
    g.add_argument("--normalize", default=None, choices=["none", "layernorm", "scale"],
                   help=f"per-layer normalisation before mixing (default: {defaults.normalize})")
    g.add_argument("--max-encoder-length", type=int, default=defaults.max_encoder_length)
    g.add_argument("--encoder-prefix", default=defaults.encoder_prefix, help="text prepended to every encoder input")
    g.add_argument("--unfreeze-encoder", action="store_true", help="train the encoder too")
    g.add_argument("--center-languages", action="store_true",
                   help="move each input language's mean encoder state onto the English one (fitted on the training "
                        "text; a language's mean over the texts evaluated together)")
    g.add_argument("--llm-input", default=None, choices=list(LLM_INPUTS),
                   help="what the LLM reads after the soft tokens: nothing (soft), an instruction through its own "
                        "embeddings, or the instruction and the raw text; instruction+text is the LLM alone "
                        "(default: soft+instruction when the task has an instruction, else soft)")
    g.add_argument("--instruction", default=None,
                   help="the instruction the LLM reads (default: the task's, e.g. 'Translate into English: ')")
    g.add_argument("--chat-template", action="store_true", help="wrap the instruction in the LLM's chat template")
    g.add_argument("--cache-dir", default=None, help="model cache (default: LAYERBRIDGE_CACHE_DIR or the user cache)")


PAPER_FUSION = "token_softmax"  # the paper's best fusion (Transformer Softmax)


def add_paper_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--paper", action="store_true",
                        help=f"the paper's configuration instead of our defaults: {what}, the fusions' paper "
                             "settings (uniform / random initialisation), the L layer outputs without normalisation, "
                             "and the paper's hyper-parameters (preset paper: lr 3e-5, 3 epochs, ...); overrides the "
                             "fusion and --preset, while explicit --lr, --epochs... still apply")


def apply_paper_flag(args: argparse.Namespace, *, fusion_dest: str | None) -> None:
    """With --paper: set the paper's fusion (into `fusion_dest`, if the command has one) and preset, and
    refuse settings that contradict it instead of silently mixing the two configurations."""
    if not getattr(args, "paper", False):
        return
    conflicts = [flag for flag, given in (("--layers", args.layers is not None), ("--normalize", args.normalize is not None),
                                          ("--fusion-option", bool(args.fusion_option))) if given]
    if conflicts:
        raise ConfigError(f"--paper fixes the fusion settings; drop {', '.join(conflicts)} or drop --paper")
    args.layers, args.normalize = "all", "none"  # the paper: the L layer outputs, mixed as they are
    if fusion_dest is not None:
        setattr(args, fusion_dest, PAPER_FUSION)
    args.preset = "paper"


def parse_option_value(text: str):
    """JSON if it parses (numbers, booleans, lists), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_key_values(items: list[str], flag: str) -> dict:
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        values[key.strip().replace("-", "_")] = parse_option_value(value.strip())
    return values


def parse_layers(text: str):
    if text in ("all", "all+embeddings", "upper_half"):
        return text
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise ConfigError(f"--layers: expected all | all+embeddings | upper_half | e.g. 6,9,12; got {text!r}") from err


def llm_input_from_args(args: argparse.Namespace) -> dict:
    """llm_input / instruction / chat_template: the options given, else the task's instruction (if any)."""
    instruction = args.instruction
    if instruction is None and getattr(args, "task", None):
        from layerbridge.tasks import get_task

        instruction = get_task(args.task).instruction
    mode = args.llm_input or ("soft+instruction" if instruction or args.chat_template else "soft")
    return {"llm_input": mode, "instruction": "" if mode == "soft" else instruction or "",
            "chat_template": args.chat_template}


def bridge_config_from_args(args: argparse.Namespace, fusion: str | None = None) -> BridgeConfig:
    return BridgeConfig(
        **llm_input_from_args(args),
        encoder=args.encoder,
        llm=args.llm,
        fusion=fusion or args.fusion,
        fusion_options=parse_key_values(args.fusion_option, "--fusion-option"),
        projector=args.projector,
        projector_options=parse_key_values(args.projector_option, "--projector-option"),
        injection=args.injection,
        injection_options=parse_key_values(args.injection_option, "--injection-option"),
        projector_init=args.projector_init,
        layers=BridgeConfig.layers if args.layers is None else parse_layers(args.layers),
        normalize=args.normalize or BridgeConfig.normalize,
        max_encoder_length=args.max_encoder_length,
        encoder_prefix=args.encoder_prefix,
        freeze_encoder=not args.unfreeze_encoder,
        center_languages=args.center_languages,
    )


def add_decoding_options(parser: argparse.ArgumentParser, *, max_new_tokens: int = 128) -> None:
    g = parser.add_argument_group("decoding (generation tasks; greedy by default)")
    g.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="(default: %(default)s)")
    g.add_argument("--num-beams", type=int, default=1, help="beam search with this many beams (default: greedy)")
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding (seeded by --seed)")
    g.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold")
    g.add_argument("--repetition-penalty", type=float, default=1.0, help="> 1 discourages repeated tokens")
    g.add_argument("--no-repeat-ngram-size", type=int, default=0, help="never repeat an n-gram of this size (0: off)")
    g.add_argument("--stop", action="append", default=None, metavar="TEXT",
                   help="stop string (repeatable; default: a newline); the output is cut before it")
    g.add_argument("--stop-before-text", action="store_true",
                   help="let a stop string end an answer before any text (transformers' stop_strings; by default "
                        "a leading newline does not empty an answer)")


def decoding_from_args(args: argparse.Namespace):
    from layerbridge.evaluation.generation import Decoding

    stops = tuple(s.encode().decode("unicode_escape") for s in args.stop) if args.stop else ("\n",)
    return Decoding(max_new_tokens=args.max_new_tokens, num_beams=args.num_beams, do_sample=args.sample,
                    temperature=args.temperature, top_p=args.top_p, stop=stops, seed=getattr(args, "seed", 0),
                    repetition_penalty=args.repetition_penalty, no_repeat_ngram_size=args.no_repeat_ngram_size,
                    stop_after_text=not args.stop_before_text)
