#!/usr/bin/env bash
# The runs behind docs/results.md (issue 6): last / global_softmax / token_softmax, the LLM-alone
# baseline and the linear probes, trained on English only with the same seed, data and budget per
# task, evaluated zero-shot per language. SIB-200 reuses the fusion study (results/fusion-study).
# Budgets fit a 2-core CPU; fp32 (--mixed-precision no) as in the committed results, on any machine.
# `compare` reuses finished runs and resumes killed ones: re-run the same line after a stop.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/task-results/run.sh [OUT]
set -euo pipefail
OUT=${1:-results}
COMMON=(--fusions last,global_softmax,token_softmax --references llm_alone,probe --preset small-data
        --mixed-precision no --normalize none)  # the paper's settings, pinned whatever the bridge's default
for seed in 0 1; do
  layerbridge compare --task sinhala_news "${COMMON[@]}" --train-limit 400 --eval-limit 400 --seed "$seed" \
    -o "$OUT/sinhala-news/seed$seed"
done
for seed in 0 1; do
  layerbridge compare --task xnli "${COMMON[@]}" --train-limit 400 --eval-limit 40 --seed "$seed" -o "$OUT/xnli/seed$seed"
  layerbridge compare --task marc "${COMMON[@]}" --train-limit 400 --eval-limit 60 --seed "$seed" -o "$OUT/marc/seed$seed"
done
