"""Stage-1 bitext from the local XNLI data: each of XNLI's 14 translated languages is parallel to English
row by row, so the premise of a row in language X and the English premise of the same row are a
translation pair (X -> English), as MindMerger's and LayAlign's first stage train on. Only the
validation premises are used (never a FLORES sentence, never XNLI's test split); a bridge trained on
them must never be evaluated on XNLI (nor IndicXNLI, XNLI's translation): the task file says so
(`derived_from`), and `layerbridge evaluate` refuses (docs/tasks.md, "Bitext").

    python -m studies.generation.xnli_bitext --data-dir ../shared/data -o OUT       # OUT outside the repository
    python -m studies.generation.xnli_bitext --data-dir ../shared/data --languages-not-in-xnli

Writes OUT/bitext.jsonl (the training pairs of every language, columns id, lang, text, english), OUT/dev/<lang>.jsonl
(the pairs of the held-out premises: a fraction of the English premises, the same in every language, so no
held-out English sentence is ever a training target) and OUT/bitext.yaml (the generation task over them,
train language `mul`), and prints the pairs per language. The data's licence keeps it out of the
repository: OUT may not be inside it. Rows repeat their premise (three hypotheses each): repeated pairs
are written once. The second form prints flores_en's low-resource languages in the data folder that XNLI
does not have (the languages a bitext bridge is evaluated on: it saw none of them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from layerbridge.errors import ConfigError, DataError
from layerbridge.tasks.builtin import FLORES_EN_DECODING, FLORES_EN_MAX_TARGET, XNLI_LANGS
from layerbridge.tasks.readers import iter_records
from layerbridge.tasks.training_data import MULTILINGUAL

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE_LANGS = [lang for lang in XNLI_LANGS if lang != "en"]
SPLIT = "validation"  # the translated split whose premises are used; never test
DEV_FRACTION = 0.05  # of the English premises, held out in every language
# XNLI's languages as FLORES-200 codes (zh: XNLI's is Simplified; Traditional Chinese is the same language)
XNLI_FLORES = {"ar": ["arb_Arab"], "bg": ["bul_Cyrl"], "de": ["deu_Latn"], "el": ["ell_Grek"], "en": ["eng_Latn"],
               "es": ["spa_Latn"], "fr": ["fra_Latn"], "hi": ["hin_Deva"], "ru": ["rus_Cyrl"], "sw": ["swh_Latn"],
               "th": ["tha_Thai"], "tr": ["tur_Latn"], "ur": ["urd_Arab"], "vi": ["vie_Latn"],
               "zh": ["zho_Hans", "zho_Hant"]}
TASK_NAME = "xnli_bitext"
# XNLI's rows, and IndicXNLI's (its dev and test are translations of XNLI's English ones)
DERIVED_FROM = ["xnli", "indicxnli"]


def read_rows(data_dir: Path, lang: str) -> list[dict]:
    """One language's XNLI validation rows, in file order."""
    path = data_dir / "xnli" / lang / f"{SPLIT}.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: not found; the bitext needs XNLI's {SPLIT} split in every language "
                        f"({', '.join(XNLI_LANGS)})")
    rows = [row for _, row in iter_records(path)]
    for number, row in enumerate(rows, start=1):
        if not isinstance(row.get("premise"), str) or not row["premise"].strip():
            raise DataError(f"{path}: row {number}: no premise text")
    return rows


def check_parallel(data_dir: Path, rows: dict[str, list[dict]]) -> None:
    """Refuse languages whose rows cannot be XNLI's translations of the English rows: another row count,
    or (where the rows have labels) another label in some row."""
    counts = {lang: len(lang_rows) for lang, lang_rows in rows.items()}
    if len(set(counts.values())) > 1:
        raise DataError(f"{data_dir / 'xnli'}: the {SPLIT} files are not parallel: row counts differ "
                        f"({', '.join(f'{lang} {n}' for lang, n in counts.items())}); XNLI's languages have "
                        f"the same rows in the same order, so a premise is paired with the English row of "
                        f"the same number only when every file has all of them")
    english = [row.get("label") for row in rows["en"]]
    for lang, lang_rows in rows.items():
        differ = next((i for i, row in enumerate(lang_rows) if row.get("label") != english[i]), None)
        if differ is not None:
            raise DataError(f"{data_dir / 'xnli' / lang / (SPLIT + '.jsonl')}: row {differ + 1} has label "
                            f"{lang_rows[differ].get('label')!r}, the English row {english[differ]!r}: the rows "
                            f"are not in XNLI's parallel order")


def premise_pairs(rows: dict[str, list[dict]]) -> dict[str, list[tuple[str, str]]]:
    """Per source language, its (premise, English premise) pairs row by row, each pair once (XNLI's rows
    repeat their premise for each of its hypotheses), in first-seen order."""
    english = [row["premise"].strip() for row in rows["en"]]
    pairs = {}
    for lang in SOURCE_LANGS:
        seen = dict.fromkeys((row["premise"].strip(), en) for row, en in zip(rows[lang], english))
        pairs[lang] = list(seen)
    return pairs


def held_out(english: list[str], fraction: float) -> set[str]:
    """The English premises held out in every language: the `fraction` with the smallest sha256 (fixed on
    every machine, and independent of the other premises)."""
    unique = sorted(set(english), key=lambda text: hashlib.sha256(text.encode()).hexdigest())
    return set(unique[:max(1, round(fraction * len(unique)))]) if unique and fraction > 0 else set()


def task_spec(languages: list[str]) -> dict:
    """The generation task over the written files: read the source text, write its English (flores_en's
    instruction, target length and decoding, so stage 2 on flores_en reads and writes the same way)."""
    return {
        "name": TASK_NAME, "kind": "generation",
        "description": "X -> English premise pairs of XNLI's validation split (stage-1 bitext); never evaluate "
                       "a bridge trained on it on XNLI or IndicXNLI",
        "prompt": "{text}", "target_field": "english", "instruction": "Translate into English: ",
        "max_target_length": FLORES_EN_MAX_TARGET, "decoding": dict(FLORES_EN_DECODING),
        "derived_from": list(DERIVED_FROM), "id_field": "id",
        "train_language": MULTILINGUAL, "languages": languages,
        "low_resource": [lang for lang in ("sw", "ur") if lang in languages], "eval_split": "dev",
        "files": {MULTILINGUAL: {"train": "bitext.jsonl"}, **{lang: {"dev": f"dev/{lang}.jsonl"} for lang in languages}},
    }


def refuse_inside_repository(out: Path) -> None:
    """XNLI's licence does not let its rows (or pairs of them) be copied into the repository."""
    out = out.resolve()
    if out == REPOSITORY or REPOSITORY in out.parents:
        raise ConfigError(f"-o {out}: inside the repository {REPOSITORY}; the XNLI data's licence keeps it (and "
                          f"pairs made of it) out: write it outside, e.g. ../bitext/xnli")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def write_bitext(data_dir: Path, out: Path, *, dev_fraction: float = DEV_FRACTION) -> dict[str, dict[str, int]]:
    """Write OUT/bitext.jsonl, OUT/dev/<lang>.jsonl and OUT/bitext.yaml; returns {lang: {train, dev}} counts."""
    import yaml

    refuse_inside_repository(out)
    if not 0 < dev_fraction < 1:
        raise ConfigError(f"--dev-fraction {dev_fraction}: must be in (0, 1); the held-out pairs are the task's "
                          f"evaluation split")
    rows = {lang: read_rows(data_dir, lang) for lang in XNLI_LANGS}
    check_parallel(data_dir, rows)
    pairs = premise_pairs(rows)
    dev_english = held_out([row["premise"].strip() for row in rows["en"]], dev_fraction)
    train, counts = [], {}
    for lang, lang_pairs in pairs.items():
        numbered = [{"id": f"{lang}/{i}", "lang": lang, "text": text, "english": english}
                    for i, (text, english) in enumerate(lang_pairs, start=1)]
        dev = [row for row in numbered if row["english"] in dev_english]
        train += [row for row in numbered if row["english"] not in dev_english]
        write_jsonl(out / "dev" / f"{lang}.jsonl", dev)
        counts[lang] = {"train": len(numbered) - len(dev), "dev": len(dev)}
    write_jsonl(out / "bitext.jsonl", train)
    (out / "bitext.yaml").write_text(yaml.safe_dump(task_spec(list(pairs)), allow_unicode=True, sort_keys=False),
                                     encoding="utf-8")
    return counts


def languages_not_in_xnli(data_dir: Path) -> list[str]:
    """flores_en's low-resource languages that the data folder has and XNLI has not (in any script)."""
    from layerbridge.tasks import available_languages, get_task

    flores = get_task("flores_en")
    seen = {code for codes in XNLI_FLORES.values() for code in codes}
    local = available_languages(flores, data_dir=data_dir, source="local")
    return [lang for lang in local if lang in flores.low_resource and lang not in seen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, type=Path, help="the local data folder (holds xnli/<lang>/)")
    parser.add_argument("-o", "--output-dir", type=Path, help="where to write the bitext (outside the repository)")
    parser.add_argument("--dev-fraction", type=float, default=DEV_FRACTION, help="English premises held out")
    parser.add_argument("--languages-not-in-xnli", action="store_true",
                        help="print flores_en's local low-resource languages XNLI lacks (comma list) and stop")
    args = parser.parse_args(argv)
    try:
        if args.languages_not_in_xnli:
            print(",".join(languages_not_in_xnli(args.data_dir)))
            return 0
        if args.output_dir is None:
            parser.error("give -o OUT_DIR (outside the repository)")
        counts = write_bitext(args.data_dir, args.output_dir, dev_fraction=args.dev_fraction)
    except (ConfigError, DataError) as err:
        print(f"xnli_bitext: {err}", file=sys.stderr)
        return 2
    for lang, n in counts.items():
        print(f"{lang}: {n['train']} training pairs, {n['dev']} held out")
    total = {key: sum(n[key] for n in counts.values()) for key in ("train", "dev")}
    print(f"all: {total['train']} training pairs, {total['dev']} held out; task file {args.output_dir / 'bitext.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
