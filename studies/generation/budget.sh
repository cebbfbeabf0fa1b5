#!/usr/bin/env bash
# A real budget for flores_en (issue 30, deliverable 4): the best English-only designs and the
# bitext-stage design trained ten times longer than docs/generation.md's 200 steps, keeping the
# checkpoint with the best English dev chrF++ (scored every 100 steps, decoded as evaluation decodes),
# and ending a run early after PATIENCE (default 3) dev scores in a row no better than its best:
#   restate-200       the baseline: the 200-step restating bridge of docs/generation.md (the objectives
#                     study's restate), trained here so that every design is paired with a bridge of the
#                     same machine and precision (fp32 and bf16 bridges of one seed differ by ~1.4 chrF++),
#                     with the LLM-alone rows (REFERENCES: trained the same way, and zero-shot)
#   soft-tokens       global_softmax with the lexical start (studies/flores_en_settings.sh)
#   cross-attention   LayAlign's layer-wise cross-attention, the same settings
#   bitext-stage      the soft tokens from a bridge first trained STAGE1_STEPS (default 1,000) steps on the
#                     bitext of studies/generation/bitext.sh (XNLI's premises, 14 languages -> English;
#                     written to BITEXT, a folder outside the repository) into OUT/bitext-stage1/seed<N>
#                     (--init-from); STAGE1 names another stage-1 bridge instead
#   bitext-stage-200  the same stage 1, then 200 steps as restate-200 (the bitext study's stage 2): what the
#                     budget's longer English stage 2 does to the transfer the bitext gave
#   bitext-cross-attention  cross-attention on the budget from a bitext stage 1 of its own (the same bitext and
#                     steps, trained with the cross-attention injection, OUT/bitext-stage1-cross-attention/seed<N>)
#   soft-tokens-xdev, bitext-stage-xdev  soft-tokens and bitext-stage with the weights kept, and the run stopped,
#                     by the dev rows read in DEV_LANGUAGES (default swh_Latn,hin_Deva,urd_Arab: XNLI's, none of
#                     the 17 evaluated; --dev-languages) instead of English: English dev picks the best copy, not
#                     the best transfer (for bitext-stage-xdev they are languages of its stage 1: the dev then
#                     picks what keeps the bitext's languages, a proxy for the others)
# Each is evaluated on English (the copy ceiling) and the low-resource languages XNLI lacks, the languages
# of the bitext and objectives studies, so that all stand in one table; LANGUAGES (a comma list, or "all")
# overrides. Each design is paired with restate-200 of the same seed (BASELINE; tools/paired_bootstrap.py)
# into OUT/<design>/seed<N>/summary.json (the other designs on the budget also with the soft tokens of the same
# seed and budget: versus-soft-tokens.json), through either run's predictions or, for a run of an earlier
# session, the chrF++ counts of its sentences kept in git (RUN/sentence-statistics/results.json,
# tools/sentence_statistics.py); every run's soft tokens and outputs are diagnosed
# (studies/generation/soft_token_reach.py, content_recall.py: RUN/<diagnostic>/results.json), which the
# tables of docs/generation.md read (python -m tools.make_docs).
# A run trains up to an hour on 2 cores with native bf16 (the soft tokens: 1,400 steps in 46 min, 4.0
# examples/s, on a 2-core Xeon with AMX), about 2.5 hours in fp32 on an AVX2 machine, then evaluates for
# ~13 min: run it in the background (nohup); a killed run resumes from its last checkpoint when the same
# line is run again, and a finished one is kept.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/generation/budget.sh [OUT] [SEED] [DESIGNS]
#   DESIGNS: a comma list (default restate-200,soft-tokens,cross-attention,bitext-stage,bitext-stage-200, then
#   bitext-cross-attention and the two -xdev designs); the bitext-stage designs need BITEXT=/a/folder/outside/the/repository (their stage 1:
#   about 15 min more).
set -euo pipefail
OUT=${1:-results/flores-en-budget}
SEED=${2:-0}
DESIGNS=${3:-restate-200,soft-tokens,cross-attention,bitext-stage,bitext-stage-200,bitext-cross-attention,soft-tokens-xdev,bitext-stage-xdev}
STEPS=${STEPS:-2000}
PATIENCE=${PATIENCE:-3}  # 0: train every step
DEV_LANGUAGES=${DEV_LANGUAGES:-swh_Latn,hin_Deva,urd_Arab}  # the -xdev designs' dev set (none of LANGUAGES)
STAGE1_STEPS=${STAGE1_STEPS:-1000}  # bitext-stage's stage 1: 0.7 epoch of XNLI's 11,032 pairs
BEAMS=${BEAMS:-0}  # above 1: every run also decoded with that many beams (RUN/eval-beams<N>, 1.6-2.1x the greedy time here),
                   # paired with its greedy decoding (RUN/eval-beams<N>/summary.json)
REFERENCES=${REFERENCES-llm_alone,llm_zero_shot}  # the LLM-alone rows, evaluated beside restate-200 ('' for none)
. "$(dirname "$0")/../flores_en_settings.sh"  # FLORES_EN: the settings of docs/generation.md
. "$(dirname "$0")/../finished.sh"  # finished, train_run
LANGUAGES=${LANGUAGES:-eng_Latn,$(python -m studies.generation.xnli_bitext --data-dir "${LAYERBRIDGE_DATA_DIR:?}" --languages-not-in-xnli)}
[ "$LANGUAGES" = all ] && LANGUAGES=""
# --epochs high enough that --max-steps decides (2,000 steps of 8 are 6.1 epochs of flores_en's 2,618 texts;
# the small-data preset's 2 epochs would stop at 656)
BUDGET=(--max-steps "$STEPS" --epochs 100 --eval-every 100 --keep-best --early-stopping-patience "$PATIENCE" --references ""
        --seed "$SEED")
set -f  # the designs' brackets are not file patterns
# each design paired with the 200-step restating bridge of the same seed, machine and precision
BASELINE=${BASELINE:-$OUT/restate-200/seed$SEED/global_softmax}
folder_of() {  # folder_of RUN-NAME: the folder compare writes a run into (layerbridge.io.slug)
  python -c 'import sys; from layerbridge.io import slug; print(slug(sys.argv[1]))' "$1"
}
evaluation() {  # evaluation RUN-FOLDER: its (greedy) evaluation folder here, else its sentence statistics kept in git
  if [ -d "$1/eval-generation" ]; then echo "$1/eval-generation"; elif [ -f "$1/sentence-statistics/results.json" ]; then
    echo "$1/sentence-statistics/results.json"; fi
}
beams() {  # beams RUN-FOLDER: the run decoded with BEAMS beams on the same sentences, paired with its greedy decoding
  local dir=$1 eval=$1/eval-beams$BEAMS
  [ "$BEAMS" -gt 1 ] && [ -d "$dir/eval-generation" ] || return 0
  [ -f "$eval/results.json" ] || layerbridge evaluate "$dir" --task flores_en ${LANGUAGES:+--languages "$LANGUAGES"} \
    --limit "$FLORES_EN_EVAL_LIMIT" --seed "$SEED" --mixed-precision auto --num-beams "$BEAMS" -o "$eval"
  [ -f "$eval/summary.json" ] || python -m tools.paired_bootstrap "$dir/eval-generation" "$eval" -o "$eval/summary.json"
}
diagnose() {  # diagnose RUN-FOLDER: the content its outputs keep and its soft tokens read as words (once)
  local dir=$1
  [ -d "$dir" ] || return 0  # a run kept from git: nothing to measure here
  [ -f "$dir/content-recall/results.json" ] || python -m studies.generation.content_recall "$dir" --eval eval-generation
  [ -f "$dir/soft-token-reach/results.json" ] || [ -z "$LANGUAGES" ] \
    || python -m studies.generation.soft_token_reach "$dir" --languages "$LANGUAGES" \
    || echo "budget.sh: no soft-token reach for $dir (above: why)" >&2
  # its sentences' chrF++ counts (no text), kept in git: a later session's runs pair with it
  [ -f "$dir/sentence-statistics/results.json" ] \
    || python -m tools.sentence_statistics "$(evaluation "$dir")" -o "$dir/sentence-statistics/results.json"
}
measure() {  # measure FOLDER RUN-FOLDER compare-args...: one run trained and evaluated (kept once finished),
             # diagnosed, decoded with BEAMS
  local out=$1 name=$2; shift 2
  finished "$out" || layerbridge compare "${FLORES_EN[@]}" ${LANGUAGES:+--languages "$LANGUAGES"} "$@" -o "$out"
  diagnose "$out/$name"
  beams "$out/$name"
}
pair() {  # pair FIRST-RUN SECOND-RUN FILE: the second run minus the first over the same sentences, into FILE (once)
  [ -f "$3" ] && return
  local first second; first=$(evaluation "$1"); second=$(evaluation "$2")
  if [ -n "$first" ] && [ -n "$second" ]; then
    python -m tools.paired_bootstrap "$first" "$second" -o "$3"
  else  # a run kept from git before its sentence statistics were, or not run yet
    echo "budget.sh: $3 is not written: $1 and $2 need their evaluations or sentence statistics" \
         "(RUN/sentence-statistics/results.json) on this machine" >&2
  fi
}
run() {  # run FOLDER RUN-FOLDER compare-args...: a design measured (the budget: "${BUDGET[@]}" among the args),
         # then paired with BASELINE
  measure "$@"
  pair "$BASELINE" "$1/$2" "$1/summary.json"
}
versus() {  # versus FOLDER RUN-FOLDER: a design on the budget paired with the English-only soft tokens of the same
            # seed and budget as well (FOLDER/versus-soft-tokens.json): what the other design adds to them
  pair "$OUT/soft-tokens/seed$SEED/global_softmax" "$1/$2" "$1/versus-soft-tokens.json"
}
untested_dev() {  # the -xdev designs' dev languages, refused where evaluated (it would choose for the test)
  local lang
  for lang in ${DEV_LANGUAGES//,/ }; do  # LANGUAGES empty: every language is evaluated
    case ",${LANGUAGES:-$lang}," in *",$lang,"*) echo "budget.sh: DEV_LANGUAGES has $lang, which is evaluated" >&2; exit 2 ;; esac
  done
}
STAGE1_GIVEN=${STAGE1:-}
stage1() {  # stage1 DESIGN-FOLDER [cross-attention]: sets STAGE1, the bitext bridge a design starts from (with
            # cross-attention: a cross-attention one, as --init-from needs the design's own), trained first unless
            # the design is finished (then kept: its run.json is what git keeps)
  local injection=()
  if [ "${2:-}" = cross-attention ]; then
    STAGE1=$OUT/bitext-stage1-cross-attention/seed$SEED; injection=(--injection cross_attention)
  else
    STAGE1=${STAGE1_GIVEN:-$OUT/bitext-stage1/seed$SEED}
  fi
  [ -f "$1/compare.json" ] || [ -f "$STAGE1/train_summary.json" ] && return 0
  BITEXT=${BITEXT:?budget.sh: bitext-stage trains its stage 1 on BITEXT (a folder outside the repository)}
  [ -f "$BITEXT/bitext.yaml" ] || python -m studies.generation.xnli_bitext --data-dir "$LAYERBRIDGE_DATA_DIR" -o "$BITEXT"
  train_run "$STAGE1" --task "$BITEXT/bitext.yaml" "${FLORES_EN_TRAIN[@]}" --fusion global_softmax "${injection[@]}" \
    --seed "$SEED" --max-steps "$STAGE1_STEPS" --dev-size 0
  python -m tools.run_record "$STAGE1"
}
x="global_softmax[injection=cross_attention]"  # the cross-attention designs' run, and compare's folder for it
x_dir=$(folder_of "$x")
for design in ${DESIGNS//,/ }; do
  out=$OUT/$design/seed$SEED
  case $design in
    restate-200)  # the flores_en settings as they are: 200 steps, with the LLM alone; the baseline, not paired
      measure "$out" global_softmax --seed "$SEED" --references "$REFERENCES" --fusions global_softmax ;;
    soft-tokens) run "$out" global_softmax "${BUDGET[@]}" --fusions global_softmax ;;
    cross-attention) run "$out" "$x_dir" "${BUDGET[@]}" --fusions "$x"; versus "$out" "$x_dir" ;;
    bitext-stage) stage1 "$out"; run "$out" global_softmax "${BUDGET[@]}" --fusions global_softmax --init-from "$STAGE1"
      versus "$out" global_softmax ;;
    soft-tokens-xdev) untested_dev; run "$out" global_softmax "${BUDGET[@]}" --dev-languages "$DEV_LANGUAGES" --fusions global_softmax
      versus "$out" global_softmax ;;
    bitext-stage-xdev) untested_dev; stage1 "$out"
      run "$out" global_softmax "${BUDGET[@]}" --dev-languages "$DEV_LANGUAGES" --fusions global_softmax --init-from "$STAGE1"
      versus "$out" global_softmax ;;
    bitext-cross-attention)  # cross-attention from its own bitext stage 1, on the budget
      stage1 "$out" cross-attention; run "$out" "$x_dir" "${BUDGET[@]}" --fusions "$x" --init-from "$STAGE1"
      versus "$out" "$x_dir" ;;
    bitext-stage-200)  # the same stage 1, then the flores_en settings' 200 steps (the bitext study's stage 2)
      stage1 "$out"; run "$out" global_softmax --seed "$SEED" --references "" --fusions global_softmax --init-from "$STAGE1" ;;
    *) echo "budget.sh: unknown design $design (restate-200, soft-tokens, cross-attention, bitext-stage," \
            "bitext-stage-200, soft-tokens-xdev, bitext-stage-xdev, bitext-cross-attention)" >&2; exit 2 ;;
  esac
done
