#!/usr/bin/env bash
# English-only objectives beyond restating (issue 30, deliverable 3), each against restating with the
# flores_en settings (studies/flores_en_settings.sh), the same seed and budget:
#   continuation     the encoder reads the first 30-70% of an English text's words, the LLM writes the rest
#   token-dropout    restating, with 20% of the encoder positions left out of what the LLM reads in training
#   continuation+restate  continuation as stage 1, then restating from it (--init-from), as the peers' two stages
# The restating bridge itself is studies/generation/flores_en.sh's run of the same seed (results/flores-en).
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/generation/objectives.sh [OUT] [SEEDS...]
# Then: python -m tools.make_docs. Finished runs are kept; a killed one resumes (rerun the same line).
set -euo pipefail
OUT=${1:-results/objectives}; shift || true
SEEDS=${*:-0}
. "$(dirname "$0")/../flores_en_settings.sh"  # FLORES_EN: the settings of docs/generation.md
. "$(dirname "$0")/../finished.sh"
run() {  # run FOLDER compare-args...: one flores_en comparison unless finished
  local out=$1; shift
  finished "$out" && return
  layerbridge compare "${FLORES_EN[@]}" --fusions global_softmax --references "" "$@" -o "$out"
}
for seed in $SEEDS; do
  run "$OUT/continuation/seed$seed" --seed "$seed" --objective continuation
  run "$OUT/token-dropout/seed$seed" --seed "$seed" --encoder-token-dropout 0.2
  run "$OUT/continuation+restate/seed$seed" --seed "$seed" --init-from "$OUT/continuation/seed$seed/global_softmax"
done
