#!/usr/bin/env bash
# What makes the bridge restate its input (docs/generation.md, "What we tried"): flores_en variants,
# each trained on English text only and evaluated on 24 test sentences of six languages.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/generation/variants.sh OUT [variant ...]
#   (the page's rows: gs_lex last_lex upper_lex mid_lex_center)
# A finished variant (its run.json) is skipped; re-running after an interruption continues. Each
# finished variant's JSON is folded into OUT/<variant>/run.json (python -m tools.run_record), the one
# file results/ keeps (docs/generation.md's table: python -m tools.make_docs). Run from the repository root.
set -euo pipefail
OUT=${1:?output folder}; shift
LANGS=eng_Latn,hin_Deva,swh_Latn,tam_Taml,sin_Sinh,yor_Latn
COMMON=(--task flores_en --preset small-data --mixed-precision auto --dev-limit 32 --checkpoint-every 50)
declare -A V=(
  # the issue's plain run (last layer, no lexical start, no instruction); not rerun for the page
  [plain_last]="--fusion last --lr 1e-3 --max-steps 200 --llm-input soft"
  [last_lex]="--fusion last --lr 1e-3 --max-steps 300 --projector-init lexical"
  [gs_lex]="--fusion global_softmax --lr 1e-3 --max-steps 300 --projector-init lexical"
  [upper_lex]="--fusion global_softmax --layers upper_half --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical"
  [mid_lex_center]="--fusion global_softmax --layers 7,8,9 --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical --center-languages"
)
# variants also decoded without repeated 3-grams (eval-quick-norepeat3)
NOREPEAT=" upper_lex "
for name in "$@"; do
  run="$OUT/$name"
  if [ -f "$run/run.json" ]; then echo "$(basename "$0"): $run finished, kept"; continue; fi
  if [ ! -f "$run/train_summary.json" ]; then
    resume=(); [ -d "$run" ] && resume=(--resume)
    # shellcheck disable=SC2086
    layerbridge train "${COMMON[@]}" ${V[$name]} -o "$run" "${resume[@]}"
  fi
  # decoded as before the stop fix (docs/generation.md): a leading newline may end an answer
  eval=(evaluate "$run" --languages "$LANGS" --limit 24 --mixed-precision auto --max-new-tokens 80 --stop-before-text)
  [ -f "$run/eval-quick/results.json" ] || layerbridge "${eval[@]}" -o "$run/eval-quick"
  if [[ "$NOREPEAT" == *" $name "* ]] && [ ! -f "$run/eval-quick-norepeat3/results.json" ]; then
    layerbridge "${eval[@]}" --no-repeat-ngram-size 3 -o "$run/eval-quick-norepeat3"
  fi
  python -m tools.run_record "$run"
done
