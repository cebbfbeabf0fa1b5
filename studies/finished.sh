# Sourced by the study scripts. `finished OUT` is true (and says so) when OUT already holds a
# finished `layerbridge compare` (its compare.json): study scripts keep such runs instead of calling
# compare again, which could not reuse them (run weights are not committed).
finished() {
  if [ -f "$1/compare.json" ]; then echo "$(basename "$0"): $1 finished, kept"; return 0; fi
  return 1
}
