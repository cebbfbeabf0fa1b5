#!/usr/bin/env bash
# Issue 16, options against the token gate's collapse and the probe gap, on SIB-200 (the
# fair-budget study's settings, all 32 languages, all 204 test sentences): each option on the design
# it belongs to, at the learning rate that design chose on English dev in the fair-budget run of
# the same seed (studies/fair-budget/run.sh must have finished that seed first).
# The probe-gap options first (twice the epochs with the best English-dev checkpoint kept: early
# stopping; the mlp projector; label smoothing), then the
# token gate's, then on Sinhala news (the fair-budget settings: 400 English training rows, all 3325
# test rows) label smoothing and more English data (all 2003 English rows after the dev split).
# LANGUAGES (a comma list; default every local language) narrows the SIB-200 test languages where
# time is short: the options are compared on the low-resource average, which needs only those.
# OPTIONS (a comma list of option folder names, e.g. sib200-label-smoothing) runs only those options.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/fair-budget/options.sh [OUT] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fair-budget}
shift || true
SEEDS=${*:-0}
OPTION_FOLDERS=(sib200-keep-best-4-epochs sib200-mlp sib200-label-smoothing sib200-gate-options
                sinhala-news-label-smoothing sinhala-news-all-english)
OPTIONS=${OPTIONS:-}
for name in ${OPTIONS//,/ }; do  # refuse a misspelt option instead of running nothing
  [[ " ${OPTION_FOLDERS[*]} " == *" $name "* ]] || { echo "OPTIONS: unknown option $name (one of: ${OPTION_FOLDERS[*]})" >&2; exit 2; }
done
. "$(dirname "$0")/../finished.sh"
chosen_lr() {  # the lr design $3 chose in the fair-budget run of task folder $1, seed $2
  python -c "import json,sys; print(json.load(open(sys.argv[1]))['runs'][sys.argv[2]]['chosen_lr'])" \
    "$OUT/$1/seed$2/compare.json" "$3"
}
option() {  # option FOLDER SEED TASK-FOLDER DESIGN compare-args...: one option run at DESIGN's chosen lr,
  # unless OPTIONS leaves it out or its output already holds a finished compare.json
  local folder=$1 seed=$2 task_folder=$3 design=$4; shift 4
  if [ -n "$OPTIONS" ] && [[ ",${OPTIONS// /}," != *",$folder,"* ]]; then return; fi
  local out="$OUT/$folder/seed$seed"
  finished "$out" && return
  local lr; lr=$(chosen_lr "$task_folder" "$seed" "$design")
  layerbridge compare "$@" --references "" --preset small-data --mixed-precision auto --lr "$lr" --seed "$seed" -o "$out"
}
SIB200=(--task sib200 --normalize none)
[ -n "${LANGUAGES:-}" ] && SIB200+=(--languages "$LANGUAGES")
NEWS=(--task sinhala_news --normalize none)
for seed in $SEEDS; do
  option sib200-keep-best-4-epochs "$seed" sib200 global_softmax "${SIB200[@]}" --fusions "global_softmax" \
    --epochs 4 --keep-best --eval-every 40
  option sib200-mlp "$seed" sib200 global_softmax "${SIB200[@]}" --fusions "global_softmax[projector=mlp]"
  option sib200-label-smoothing "$seed" sib200 global_softmax "${SIB200[@]}" --fusions "global_softmax" --label-smoothing 0.1
  option sib200-gate-options "$seed" sib200 token_softmax "${SIB200[@]}" \
    --fusions "token_softmax[layer_drop=0.2],token_softmax[init=last]"
  option sinhala-news-label-smoothing "$seed" sinhala-news global_softmax "${NEWS[@]}" --fusions "global_softmax" \
    --label-smoothing 0.1 --train-limit 400
  option sinhala-news-all-english "$seed" sinhala-news global_softmax "${NEWS[@]}" --fusions "global_softmax"
done
