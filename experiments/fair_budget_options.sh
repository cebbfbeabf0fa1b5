#!/usr/bin/env bash
# Issue 16, options against the token gate's collapse and the probe gap, on SIB-200 (the
# fair-budget study's settings, all 32 languages, all 204 test sentences): each option on the design
# it belongs to, at the learning rate that design chose on English dev in the fair-budget run of
# the same seed (experiments/fair_budget_study.sh must have finished that seed first).
# The probe-gap options first (twice the epochs with the best English-dev checkpoint kept: early
# stopping; the mlp projector; label smoothing), then the token gate's, then on Sinhala news (the
# fair-budget settings: 400 English training rows, all 3325 test rows) label smoothing and more
# English data (all 2003 English rows after the dev split instead of 400). LANGUAGES (a comma list; default every local language) narrows the test languages
# where time is short: the options are compared on the low-resource average, which needs only those.
# OPTIONS (a comma list of output folder names, e.g. sib200-label-smoothing) runs only those options.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash experiments/fair_budget_options.sh [OUT] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fair-budget}
shift || true
SEEDS=${*:-0}
chosen() {  # the lr a design chose in the fair-budget run of seed $1 (task folder $3, default sib200)
  python -c "import json,sys; print(json.load(open(sys.argv[1]))['runs'][sys.argv[2]]['chosen_lr'])" \
    "$OUT/${3:-sib200}/seed$1/compare.json" "$2"
}
compare() {  # layerbridge compare, unless its output folder ($1) already holds a finished compare.json
  local out=$1; shift
  if [ -f "$out/compare.json" ]; then echo "fair_budget_options: $out finished, kept"; return; fi
  local option; option=$(basename "$(dirname "$out")")
  if [ -n "${OPTIONS:-}" ] && [[ ",$OPTIONS," != *",$option,"* ]]; then return; fi
  layerbridge compare "$@" -o "$out"
}
COMMON=(--task sib200 --references "" --preset small-data --mixed-precision auto --normalize none)
[ -n "${LANGUAGES:-}" ] && COMMON+=(--languages "$LANGUAGES")
for seed in $SEEDS; do
  compare "$OUT/sib200-keep-best-4-epochs/seed$seed" "${COMMON[@]}" --fusions "global_softmax" --epochs 4 --keep-best --eval-every 40 \
    --lr "$(chosen "$seed" global_softmax)" --seed "$seed"
  compare "$OUT/sib200-mlp/seed$seed" "${COMMON[@]}" --fusions "global_softmax[projector=mlp]" \
    --lr "$(chosen "$seed" global_softmax)" --seed "$seed"
  compare "$OUT/sib200-label-smoothing/seed$seed" "${COMMON[@]}" --fusions "global_softmax" --label-smoothing 0.1 \
    --lr "$(chosen "$seed" global_softmax)" --seed "$seed"
  compare "$OUT/sib200-gate-options/seed$seed" "${COMMON[@]}" --fusions "token_softmax[layer_drop=0.2],token_softmax[init=last]" \
    --lr "$(chosen "$seed" token_softmax)" --seed "$seed"
  compare "$OUT/sinhala-news-label-smoothing/seed$seed" --task sinhala_news --references "" --preset small-data \
    --mixed-precision auto --normalize none --fusions "global_softmax" --label-smoothing 0.1 --train-limit 400 \
    --lr "$(chosen "$seed" global_softmax sinhala-news)" --seed "$seed"
  compare "$OUT/sinhala-news-all-english/seed$seed" --task sinhala_news --references "" --preset small-data --mixed-precision auto \
    --normalize none --fusions "global_softmax" --lr "$(chosen "$seed" global_softmax sinhala-news)" \
    --seed "$seed"
done
