# Sourced by the study scripts. `finished OUT` is true (and says so) when OUT already holds a
# finished `layerbridge compare` (its compare.json): study scripts keep such runs instead of calling
# compare again, which could not reuse them (run weights are not committed). `train_run DIR FLAGS...`
# trains one bridge into DIR unless it is trained, resuming a killed training.
finished() {
  if [ -f "$1/compare.json" ]; then echo "$(basename "$0"): $1 finished, kept"; return 0; fi
  return 1
}
train_run() {
  local dir=$1; shift
  if [ -f "$dir/train_summary.json" ]; then echo "$(basename "$0"): $dir trained, kept"; return; fi
  local resume=(); [ -d "$dir" ] && resume=(--resume)
  layerbridge train "$@" -o "$dir" "${resume[@]}"
}
