"""`layerbridge predict`: a saved bridge answers for texts in any language.

Texts come from the command line, from stdin (one per line), or from a file (`-i`: JSONL, CSV or
TSV, with a "text" column or the columns of the task's prompt). The text is wrapped in the prompt
of the bridge's task unless --raw is given. Output: one JSON object per input line on stdout.
A bridge trained on a generation task (e.g. flores_en) writes free text ("output"), decoded with
the settings it was saved with (generation_config.json; a decoding flag overrides one); a
classification bridge answers with a label.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layerbridge.evaluation.predict import MODES
from layerbridge.bridge import LayerBridge
from layerbridge.cli.options import add_decoding_options, decoding_from_args
from layerbridge.errors import DataError
from layerbridge.tasks.base import is_blank


def register(sub) -> None:
    parser = sub.add_parser("predict", help="answer for texts given as arguments, on stdin or in a JSONL file",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bridge", help="folder of a saved bridge")
    parser.add_argument("texts", nargs="*", help="texts to answer (none: read stdin)")
    parser.add_argument("--input", "-i", default=None, help="a .jsonl / .csv / .tsv file of inputs")
    parser.add_argument("--task", default=None, help="task whose prompt and labels to use (default: the trained one)")
    parser.add_argument("--mode", default="rank", choices=list(MODES))
    parser.add_argument("--raw", action="store_true", help="give the text to the encoder as is (no task prompt)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    add_decoding_options(parser)
    parser.set_defaults(func=run)


def read_inputs(args) -> list[dict]:
    if args.input:  # the task readers: same formats (jsonl / csv / tsv) and the same clear errors
        from layerbridge.tasks.readers import iter_records

        rows = []
        for number, row in iter_records(Path(args.input)):
            if is_blank(str(row.get("text", "x"))):
                raise DataError(f"{args.input}:{number}: the \"text\" of this row is empty; every row needs a text")
            rows.append(row)
        return rows
    if args.texts:
        blank = [number for number, text in enumerate(args.texts, 1) if is_blank(text)]
        if blank:  # empty texts are refused or skipped everywhere; an answer to nothing would look like one
            raise DataError(f"text argument {blank[0]} is empty: give the texts to answer (none at all reads stdin)")
        return [{"text": t} for t in args.texts]
    return [{"text": line.rstrip("\n")} for line in sys.stdin if line.strip()]


def run(args: argparse.Namespace) -> int:
    from layerbridge.cli.evaluate_cmd import default_task
    from layerbridge.evaluation.predict import predict
    from layerbridge.machine import inference_device
    from layerbridge.tasks import get_task

    rows = read_inputs(args)
    if not rows:
        raise DataError("no input: give texts as arguments, on stdin, or with --input FILE")
    bridge = LayerBridge.from_pretrained(args.bridge, cache_dir=args.cache_dir).to(inference_device())
    task_name = args.task or default_task(Path(args.bridge))
    task = get_task(task_name) if task_name else None

    if args.raw or task is None:
        texts = [str(r.get("text", "")) for r in rows]
    else:
        texts = []
        for number, row in enumerate(rows, 1):
            try:
                texts.append(task.render(row))
            except (KeyError, ValueError) as err:
                raise DataError(f"input {number}: cannot fill the {task.name} prompt ({err}); "
                                f"the prompt is {task.prompt!r}") from err
    from layerbridge.evaluation.recipe import truncation_warning

    warning = truncation_warning(sum(bridge.truncated(texts)), len(texts), bridge.config)
    if warning:
        print(warning, file=sys.stderr)
    if task is None or task.is_generation:  # free text: a generation task, or no label set known
        from layerbridge.evaluation.generation import generate_texts

        outputs = generate_texts(bridge, texts, decoding_from_args(args, bridge.generation_config),
                                 batch_size=args.batch_size)
        for row, output in zip(rows, outputs):
            print(json.dumps({**row, "output": output}, ensure_ascii=False))
        return 0
    labels, answers = predict(bridge, texts, task.label_words, mode=args.mode, batch_size=args.batch_size)
    for row, label, answer in zip(rows, labels, answers):
        print(json.dumps({**row, "label": task.label_words[label] if label >= 0 else None, "answer": answer},
                         ensure_ascii=False))
    return 0
