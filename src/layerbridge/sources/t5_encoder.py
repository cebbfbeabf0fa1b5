"""The encoder half of a T5-family checkpoint (mT5, umT5, T5), loaded without its decoder."""

from __future__ import annotations

from layerbridge.sources.resolve import ResolvedModel

T5_ENCODERS = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}


def load_t5_encoder(cls_name: str, r: ResolvedModel, kw: dict):
    """``T5EncoderModel`` & co. from a full checkpoint, without the decoder weights.

    transformers reports every skipped decoder tensor as UNEXPECTED (a long, alarming table);
    that is the point here, so we silence the report and warn only about *missing* weights.
    """
    import logging

    import transformers
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = getattr(transformers, cls_name).from_pretrained(r.path, output_loading_info=True, **kw)
    finally:
        hf_logging.set_verbosity(old)
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        logging.getLogger(__name__).warning(
            "encoder %s: %d weights missing from the checkpoint (randomly initialised): %s",
            r.name, len(missing), ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""),
        )  # fmt: skip
    return model
