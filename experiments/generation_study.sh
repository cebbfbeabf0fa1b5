#!/usr/bin/env bash
# What makes the bridge restate its input (docs/generation.md, "What we tried"): flores_en variants,
# each trained on English text only and evaluated on 24 test sentences of six languages.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash experiments/generation_study.sh OUT [variant ...]
# A finished variant is skipped; re-running after an interruption continues.
set -euo pipefail
OUT=${1:?output folder}; shift
LANGS=eng_Latn,hin_Deva,swh_Latn,tam_Taml,sin_Sinh,yor_Latn
COMMON=(--task flores_en --preset small-data --mixed-precision auto --dev-limit 32 --checkpoint-every 50)
declare -A V=(
  [plain_last]="--fusion last --lr 1e-3 --max-steps 200 --llm-input soft"
  [last_instr]="--fusion last --lr 1e-3 --max-steps 300"
  [last_lex]="--fusion last --lr 1e-3 --max-steps 300 --projector-init lexical"
  [gs_lex]="--fusion global_softmax --lr 1e-3 --max-steps 300 --projector-init lexical"
  [gs_lex_frozenmix]="--fusion global_softmax --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical"
  [gs_instr]="--fusion global_softmax --lr 1e-3 --max-steps 300"
  [upper_lex]="--fusion global_softmax --layers upper_half --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical"
  [gs_lex_chat]="--fusion global_softmax --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical --chat-template"
  [gs_lex_lr3]="--fusion global_softmax --lr 3e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical"
  [mid_lex]="--fusion global_softmax --layers 7,8,9 --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical"
  [mid_step0_center]="--fusion global_softmax --layers 7,8,9 --lr 1e-12 --fusion-lr 1e-12 --max-steps 1 --projector-init lexical --center-languages"
  [mid_lex_center]="--fusion global_softmax --layers 7,8,9 --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical --center-languages"
  [gs_lex_center]="--fusion global_softmax --lr 1e-3 --fusion-lr 1e-6 --max-steps 300 --projector-init lexical --center-languages"
  [gs_lex_800]="--fusion global_softmax --lr 1e-3 --fusion-lr 1e-6 --max-steps 800 --projector-init lexical"
)
for name in "$@"; do
  run="$OUT/$name"
  if [ ! -f "$run/train_summary.json" ]; then
    resume=(); [ -d "$run" ] && resume=(--resume)
    # shellcheck disable=SC2086
    layerbridge train "${COMMON[@]}" ${V[$name]} -o "$run" "${resume[@]}"
  fi
  if [ ! -f "$run/eval-quick/results.json" ]; then
    layerbridge evaluate "$run" --languages "$LANGS" --limit 24 --mixed-precision auto --max-new-tokens 80 -o "$run/eval-quick"
  fi
done
