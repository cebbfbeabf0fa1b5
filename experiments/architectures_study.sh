#!/usr/bin/env bash
# Issue 17's study: the field's designs behind one interface, each at its own English-dev-chosen
# learning rate from the fair-budget grid: the paper's soft tokens (global_softmax), LayAlign's
# layer-wise cross-attention, and LangBridge's Perceiver (K = 32 soft tokens per text), on SIB-200,
# Sinhala news and flores_en (generation). `compare` reuses finished runs and resumes killed ones.
# The global_softmax runs on SIB-200 and Sinhala news have exactly the fair-budget study's settings: copy
# its run folders (results/fair-budget/<task>/seed<N>/global_softmax) into OUT to reuse them, training and
# evaluation (the evaluation is matched by the weights' sha256; one recorded before that by file times: `cp -rp`).
# DESIGNS overrides the SIB-200 / Sinhala news designs (e.g. one design at a time when time is short).
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash experiments/architectures_study.sh [OUT] [TASKS] [SEEDS...]
set -euo pipefail
OUT=${1:-results/architectures}
TASKS=${2:-sib200,sinhala_news,flores_en}
shift 2 || shift $# || true
SEEDS=${*:-0 1}
DESIGNS=${DESIGNS:-"global_softmax,global_softmax[injection=cross_attention],global_softmax[projector=perceiver;projector.latents=32]"}
# flores_en: the generation settings of docs/generation.md (lexical start: linear projectors only)
FLORES_DESIGNS="global_softmax,global_softmax[injection=cross_attention],global_softmax[projector=perceiver;projector_init=default;projector.latents=32]"
COMMON=(--fusions "$DESIGNS" --lr-grid 3e-4,1e-3,3e-3 --preset small-data --mixed-precision auto --normalize none)
for seed in $SEEDS; do
  for task in ${TASKS//,/ }; do
    case $task in
      sib200) layerbridge compare --task sib200 "${COMMON[@]}" --references probe --seed "$seed" \
                -o "$OUT/sib200/seed$seed" ;;
      sinhala_news) layerbridge compare --task sinhala_news "${COMMON[@]}" --references probe --train-limit 400 \
                      --seed "$seed" -o "$OUT/sinhala-news/seed$seed" ;;
      flores_en) layerbridge compare --task flores_en --lr-grid 3e-4,1e-3,3e-3 --preset small-data \
                   --mixed-precision auto --references "" --max-steps 200 --dev-limit 32 --eval-limit 16 \
                   --max-new-tokens 80 --no-repeat-ngram-size 3 --layers upper_half --fusion-lr 1e-6 \
                   --projector-init lexical --fusions "$FLORES_DESIGNS" --seed "$seed" -o "$OUT/flores-en/seed$seed" ;;
    esac
  done
done
