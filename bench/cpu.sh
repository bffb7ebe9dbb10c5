# CPU time from /proc for the benchmarks (sourced): user + system ticks of a process, and
# of all PostgreSQL processes together.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
postgres_ticks() {
  local t=0 p
  for p in $(pgrep -x postgres || true); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
