#!/usr/bin/env bash
# The flores_en table of docs/generation.md: every local language into English, 2 seeds, with the
# LLM-alone rows (zero-shot; trained the same way) on the first seed; the English row is the copy ceiling.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash experiments/flores_en_results.sh [OUT] [SEEDS...]
# Then: python experiments/generation_report.py. Finished parts are reused; a killed run resumes.
set -euo pipefail
OUT=${1:-results/flores-en}; shift || true
SEEDS=("${@:-0 1}")
# shellcheck disable=SC2206
SEEDS=(${SEEDS[@]})
# The variant chosen in experiments/generation_study.sh (docs/generation.md): the upper half of the
# encoder's layers in a fixed uniform mix (fusion lr 1e-6), the lexical projector start, lr 1e-3;
# decoding greedy without repeated 3-grams. 200 steps and 16 sentences per language fit the session.
BRIDGE=(--fusions global_softmax --layers upper_half --fusion-lr 1e-6 --projector-init lexical)
COMMON=(--task flores_en --preset small-data --lr 1e-3 --max-steps 200 --mixed-precision auto --dev-limit 32
        --eval-limit 16 --max-new-tokens 80 --no-repeat-ngram-size 3 --checkpoint-every 50)
# The bridges of every seed first, then the reference rows on the first seed, cheapest first (each
# compare reuses the finished runs and evaluations of the one before).
for seed in "${SEEDS[@]}"; do
  layerbridge compare "${COMMON[@]}" "${BRIDGE[@]}" --seed "$seed" --references "" -o "$OUT/seed$seed"
done
for refs in llm_zero_shot llm_alone,llm_zero_shot; do
  layerbridge compare "${COMMON[@]}" "${BRIDGE[@]}" --seed "${SEEDS[0]}" --references "$refs" -o "$OUT/seed${SEEDS[0]}"
done
