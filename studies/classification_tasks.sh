# Sourced by the classification study scripts (fair-budget, probe-gap): the fair-budget study's
# per-task settings, so that runs of different studies on the same seed stand side by side.
# compare_task TASK SEED OUT compare-args...: SIB-200 (every local language, all 204 test sentences)
# into OUT/sib200/seed<SEED>; Sinhala news (400 English training rows, all 3325 test rows) into
# OUT/sinhala-news/seed<SEED>. SEED_SUFFIX (e.g. -4-tokens) names a second document of the same seed
# (seed<SEED><SUFFIX>) for designs added after the first's run folders are gone; the reports read
# every seed* document.
compare_task() {
  local task=$1 seed=$2 out=$3; shift 3
  case $task in
    sib200) layerbridge compare --task sib200 "$@" --seed "$seed" -o "$out/sib200/seed$seed${SEED_SUFFIX:-}" ;;
    sinhala_news) layerbridge compare --task sinhala_news "$@" --train-limit 400 --seed "$seed" \
                    -o "$out/sinhala-news/seed$seed${SEED_SUFFIX:-}" ;;
    *) echo "$(basename "$0"): unknown task $task (sib200, sinhala_news)" >&2; exit 2 ;;
  esac
}
