#!/usr/bin/env bash
# The token gate's stable variant against the default on both tasks of the fusion study (issue 7), in bf16:
# `token_softmax` + layer norm with a fusion learning rate ten times below the rest (it no longer collapses
# onto one layer, studies/token-gate/collapse.py) against `global_softmax` without normalisation (the
# default). SIB-200 with the setup of studies/fusion-study/run.sh, whose bf16 runs are the default's arm there;
# Sinhala news with the budget of studies/fusion-study/options.sh. Compared on English dev only.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/token-gate/stable.sh [OUT] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fusion-study}
shift || true
SEEDS=${*:-0 1}
COMMON=(--references "" --preset small-data --mixed-precision bf16)
STABLE=(--fusions token_softmax --normalize layernorm --fusion-lr 3e-4)
SIN=(--task sinhala_news "${COMMON[@]}" --train-limit 400 --eval-limit 400)
for seed in $SEEDS; do
  layerbridge compare "${SIN[@]}" --fusions global_softmax --normalize none --seed "$seed" \
    -o "$OUT/sinhala-news-bf16-global-seed$seed"
  layerbridge compare "${SIN[@]}" "${STABLE[@]}" --seed "$seed" -o "$OUT/sinhala-news-bf16-token-layernorm-flr-seed$seed"
done
for seed in $SEEDS; do
  layerbridge compare --task sib200 "${COMMON[@]}" "${STABLE[@]}" --eval-limit 50 --seed "$seed" \
    -o "$OUT/sib200-bf16-token-layernorm-flr-seed$seed"
done
