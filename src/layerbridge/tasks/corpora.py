"""Data of generation tasks that is not one file per split: targets paired across languages by id
(`reference_lang`), and English training text gathered from several tasks' files (`train_corpora`).

flores_en uses both: its test rows are SIB-200's FLORES-200 sentences in every language, each paired
with the English sentence of the same `index_id`; it trains on English text only, each sentence its
own target (the bridge learns to let the LLM restate what the encoder read; no parallel data).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path
from typing import Callable

from layerbridge.errors import DataError

from .base import Example, Task, TextCorpus, is_blank
from .convert import SkippedRowsWarning
from .hub import DOCS_HINT, hub_name, hub_records
from .local import folder_split_file, resolve_data_dir
from .readers import iter_records

log = logging.getLogger(__name__)


def pair_targets(task: Task, examples: list[Example], references: list[Example], *, where: str) -> list[Example]:
    """Give every example the target of the reference-language row with the same id."""
    by_id = {ref.row_id: ref.target for ref in references}
    missing = [e.row_id for e in examples if e.row_id not in by_id]
    if missing:
        raise DataError(f"{where}: {len(missing)} row(s) have no {task.reference_lang} row with the same "
                        f"{task.id_field} (first: {missing[0]!r}); the reference language's file must cover them")
    return [dataclasses.replace(e, target=by_id[e.row_id]) for e in examples]


def corpus_examples(task: Task, corpus: TextCorpus, records, *, where: str) -> list[Example]:
    """English text rows of one corpus as examples whose target is the text itself."""
    out, blank = [], 0
    for number, row in records:
        value = row.get(corpus.field)
        if not isinstance(value, str):
            raise DataError(f"{where}:{number}: field {corpus.field!r} must be text, got {value!r}")
        if is_blank(value):
            blank += 1
            continue
        text = value.strip()
        row_id = f"{corpus.folder}.{corpus.split}.{number}"
        out.append(Example(id=f"{task.name}/{task.train_lang}/train/{row_id}", text=task.render({"text": text}),
                           label=-1, lang=task.train_lang, target=text))
    if blank:
        warnings.warn(f"{where}: skipped {blank} row(s) with empty text", SkippedRowsWarning, stacklevel=3)
    return out


def corpus_reader(task: Task, data_dir, source: str, role: str = "") -> Callable[[TextCorpus], tuple[str, object]]:
    """read(corpus) -> (where, numbered rows): a corpus of `task` from its local file if present (always with
    source "local"), else from the hub. `role`: what the corpus is read for, in errors (default: a
    training corpus of the task)."""
    ddir = resolve_data_dir(data_dir) if source != "hub" else None

    def read(corpus: TextCorpus):
        path = corpus_file(corpus, ddir)
        if source == "local" and path is None:
            raise DataError(f"{ddir / corpus.folder / corpus.lang / (corpus.split + '.jsonl') if ddir else '<data_dir>'}: "
                            f"not found in the data folder ({role or 'a training corpus of ' + task.name})")
        if path is not None:
            log.info("%s training text: reading %s", task.name, path)
            return str(path), iter_records(path)
        if corpus.hub is None:
            raise DataError(f"{task.name}: training corpus {corpus.folder}/{corpus.lang}/{corpus.split} is not in the "
                            f"data folder and has no hub source; {DOCS_HINT}")
        shim = dataclasses.replace(task, hub=corpus.hub, train_corpora=[])
        return hub_name(shim, corpus.lang, corpus.split), hub_records(shim, corpus.lang, corpus.split)

    return read


def gather_training_text(task: Task, read: Callable[[TextCorpus], tuple[str, object]],
                         held_out: set[str]) -> list[Example]:
    """The English training examples of all `train_corpora`, deduplicated by text, minus every text in
    `held_out` (the evaluation references: a FLORES test sentence is never trained on)."""
    examples, seen, dropped = [], set(), 0
    for corpus in task.train_corpora:
        where, records = read(corpus)
        for example in corpus_examples(task, corpus, records, where=where):
            if example.target in held_out:
                dropped += 1
            elif example.target not in seen:
                seen.add(example.target)
                examples.append(example)
    if dropped:
        log.warning("%s: dropped %d training text(s) that are evaluation references", task.name, dropped)
    return examples


def corpus_file(corpus: TextCorpus, data_dir: Path | None) -> Path | None:
    if data_dir is None:
        return None
    return folder_split_file(data_dir / corpus.folder / corpus.lang, corpus.split)
