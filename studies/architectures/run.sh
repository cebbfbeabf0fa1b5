#!/usr/bin/env bash
# Issue 17's study: the field's designs behind one interface, each at its own English-dev-chosen
# learning rate from the fair-budget grid: LayAlign's layer-wise cross-attention and LangBridge's
# Perceiver (K = 32 soft tokens per text) on SIB-200 and Sinhala news, against the paper's soft
# tokens (global_softmax) and the probe of the fair-budget study (studies/fair-budget/run.sh:
# the same settings, the same seeds; the report reads those runs instead of training them again).
# On flores_en (generation) the two designs are trained as the soft tokens of docs/generation.md
# were (studies/generation/flores_en.sh, read from results/flores-en/seed<N>): the same settings
# and that study's English-dev-chosen lr, 1e-3, for every design. A grid costs too much there: one
# 200-step training takes 12 min on 2 cores, so three lrs x two designs x two seeds would be 2.5 h.
# One `compare` per design, task and seed, in OUT/<task>/<design>/seed<N>; a finished one is kept
# (run weights are not committed, so `compare` could not reuse them), a killed one resumes.
# DESIGNS / FLORES_DESIGNS override the designs: space-separated folder=fusion-spec pairs (the
# report, tools/results_report.py, reads the folders cross-attention and perceiver-32).
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/architectures/run.sh [OUT] [TASKS] [SEEDS...]
set -euo pipefail
OUT=${1:-results/architectures}
TASKS=${2:-sib200,sinhala_news,flores_en}
shift 2 || shift $# || true
SEEDS=${*:-0 1}
DESIGNS=${DESIGNS:-"cross-attention=global_softmax[injection=cross_attention] perceiver-32=global_softmax[projector=perceiver;projector.latents=32]"}
set -f  # the designs' brackets are not file patterns
# flores_en: linear projectors start lexical (docs/generation.md); the Perceiver's latents cannot
FLORES_DESIGNS=${FLORES_DESIGNS:-"cross-attention=global_softmax[injection=cross_attention] perceiver-32=global_softmax[projector=perceiver;projector_init=default;projector.latents=32]"}
for design in $DESIGNS $FLORES_DESIGNS; do
  [[ $design =~ ^[a-z0-9-]+=.+ ]] || { echo "DESIGNS: '$design' is not folder=fusion-spec" >&2; exit 2; }
done
COMMON=(--lr-grid 3e-4,1e-3,3e-3 --preset small-data --mixed-precision auto --normalize none --references "")
. "$(dirname "$0")/../finished.sh"
. "$(dirname "$0")/../flores_en_settings.sh"  # FLORES_EN: the soft tokens' flores_en settings
compare() {  # layerbridge compare into $1, unless a finished run is there
  local out=$1; shift
  finished "$out" || layerbridge compare "$@" -o "$out"
}
for seed in $SEEDS; do
  for task in ${TASKS//,/ }; do
    case $task in
      sib200|sinhala_news)
        task_folder=${task/_/-} limit=()
        [ "$task" = sinhala_news ] && limit=(--train-limit 400)
        for design in $DESIGNS; do
          compare "$OUT/$task_folder/${design%%=*}/seed$seed" --task "$task" "${COMMON[@]}" "${limit[@]}" \
            --fusions "${design#*=}" --seed "$seed"
        done ;;
      flores_en)
        for design in $FLORES_DESIGNS; do
          compare "$OUT/flores-en/${design%%=*}/seed$seed" "${FLORES_EN[@]}" --references "" \
            --fusions "${design#*=}" --seed "$seed"
        done ;;
      *) echo "architectures_study: unknown task $task (sib200, sinhala_news, flores_en)" >&2; exit 2 ;;
    esac
  done
done
