"""The dev score during training, computed by every process on its share of the dev set (so a
collective inside the model never waits for a process that is not scoring) and gathered. The dev set is
English, or read in several languages (--dev-languages, tasks/parallel_dev.py): then each language's
chrF++ is logged and their mean is the score that --keep-best and early stopping go by."""

from __future__ import annotations

import statistics

from accelerate.utils import gather_object

from layerbridge.evaluation.metrics import accuracy
from layerbridge.evaluation.predict import predict
from layerbridge.processes import my_share, processes


def dev_score(bridge, task, dev, limit, max_new_tokens: int) -> dict:
    """The log entry's dev fields: {"dev_accuracy": rank accuracy} for classification; {"dev_chrf":
    chrF++} for generation, decoded as the bridge will be evaluated (the settings it is saved with,
    generation_config.json: e.g. flores_en's no repeated 3-grams), else greedily up to `max_new_tokens`,
    so that `--keep-best` keeps what evaluation will score best. A dev set in several languages scores the
    first `limit` rows of each: "dev_chrf" is their mean, "dev_chrf_languages" each one. The same on
    every process."""
    by_language: dict[str, list] = {}
    for e in dev:
        by_language.setdefault(e.lang, []).append(e)
    rows = [e for examples in by_language.values() for e in examples[:limit or None]]
    world = processes().num_processes
    texts = [e.text for e in my_share(rows)]
    if task.is_generation:
        from layerbridge.decoding import Decoding, decoding_for
        from layerbridge.evaluation.generation import generate_texts

        decoding = decoding_for(bridge, fallback=Decoding(max_new_tokens=max_new_tokens))
        outputs = generate_texts(bridge, texts, decoding) if texts else []
    else:
        outputs = predict(bridge, texts, task.label_words, mode="rank")[0] if texts else []
    if world > 1:
        outputs = gather_object(outputs)  # rank order: rows[0::world] + rows[1::world] + ...
    ordered = [e for r in range(world) for e in rows[r::world]]
    if not task.is_generation:
        return {"dev_accuracy": accuracy([e.label for e in ordered], outputs)}
    from layerbridge.evaluation.text_metrics import chrf

    scores = {lang: chrf([o for o, e in zip(outputs, ordered) if e.lang == lang],
                         [e.target for e in ordered if e.lang == lang]) for lang in by_language}
    if len(scores) == 1:
        return {"dev_chrf": next(iter(scores.values()))}
    return {"dev_chrf": statistics.mean(scores.values()), "dev_chrf_languages": scores}
