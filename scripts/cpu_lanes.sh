#!/usr/bin/env bash
# A campaign on a CPU as lanes: one background `lottery sweep SPEC --only @LANE --workers 1 --threads 1` per lane
# file, each training its runs one at a time in spec order (finished ones skipped, unfinished ones resumed from
# their checkpoints), all lanes side by side, one core each.
#
#   bash scripts/cpu_lanes.sh start SPEC LANE_FILE...   start one sweep per lane in the background (nice 10)
#   bash scripts/cpu_lanes.sh status SPEC               where every run stands (lottery sweep SPEC --dry-run)
#   bash scripts/cpu_lanes.sh stop                      stop the lanes started here (each run keeps its last epoch)
#
# The converged campaign:  bash scripts/cpu_lanes.sh start sweeps/resnet20-cifar10-subset-converged.toml \
#                              sweeps/lanes/converged-a.txt sweeps/lanes/converged-b.txt
# Before committing its runs: stop, then python scripts/snapshot_runs.py SPEC (README, the converged campaign).
#
# Environment: PY (default .venv/bin/python, else python3), OUT (the results root, default: the spec's),
# LANES_DIR (the logs and process ids, default _build/lanes), THREADS (torch threads per lane, default 1: one
# core each; a lane left alone on a 2-core machine trains faster restarted with THREADS=2), LOTTERY_DATA_MIRROR
# as usual.
set -uo pipefail
here=$PWD
abs() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }  # paths given are the caller's
cd "$(dirname "$0")/.."  # a spec's relative out (results) is the repository's, as for lottery sweep run there
usage() { echo "usage: bash scripts/cpu_lanes.sh start SPEC LANE_FILE... | status SPEC | stop" >&2; exit 2; }
[ $# -ge 1 ] || usage
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
LANES_DIR=$( [ -n "${LANES_DIR:-}" ] && abs "$LANES_DIR" || echo "$PWD/_build/lanes" )
THREADS=${THREADS:-1}
case "$THREADS" in
  ''|*[!0-9]*|0*) echo "cpu_lanes: THREADS=$THREADS is not usable: give the torch threads per lane, a whole number" \
                       "of at least 1 (default 1, one core each)" >&2; exit 2 ;;
esac
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export LOTTERY_PROGRESS=0
out=(); [ -n "${OUT:-}" ] && out=(--out "$(abs "$OUT")")

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

case "$1" in
  start)
    [ $# -ge 3 ] || usage
    spec=$(abs "$2"); shift 2
    [ -f "$spec" ] || { echo "cpu_lanes: SPEC=$spec is not a file: give a sweep spec (.toml)" >&2; exit 2; }
    lanes=(); for lane in "$@"; do lanes+=("$(abs "$lane")"); done
    for lane in "${lanes[@]}"; do
      [ -f "$lane" ] || { echo "cpu_lanes: LANE_FILE=$lane is not a file: give files of run names, one a line" >&2; exit 2; }
      # every lane names runs of the spec (a ParameterError, exit 2, names the first that is not)
      "$PY" -m concave_lottery.cli sweep "$spec" "${out[@]}" --only "@$lane" --dry-run > /dev/null || exit $?
    done
    mkdir -p "$LANES_DIR"
    for lane in "${lanes[@]}"; do
      name=$(basename "$lane" .txt)
      if running "$LANES_DIR/$name.pid"; then
        echo "cpu_lanes: lane $name is already running (pid $(cat "$LANES_DIR/$name.pid")); not started twice"
        continue
      fi
      # setsid: the lane is its own process group, so that stop ends its worker too (where there is no setsid,
      # as on macOS, stop signals the sweep alone, which stops its worker as it unwinds)
      group=(); command -v setsid > /dev/null && group=(setsid)
      "${group[@]}" nohup nice -n 10 "$PY" -m concave_lottery.cli sweep "$spec" "${out[@]}" --only "@$lane" \
        --workers 1 --threads "$THREADS" > "$LANES_DIR/$name.log" 2>&1 < /dev/null &
      echo $! > "$LANES_DIR/$name.pid"
      echo "started lane $name (pid $!): log $LANES_DIR/$name.log"
    done
    ;;
  status)
    [ $# -eq 2 ] || usage
    for pid in "$LANES_DIR"/*.pid; do
      [ -f "$pid" ] || continue
      running "$pid" && echo "lane $(basename "$pid" .pid): running (pid $(cat "$pid"))" \
                     || echo "lane $(basename "$pid" .pid): not running (its log: ${pid%.pid}.log)"
    done
    "$PY" -m concave_lottery.cli sweep "$(abs "$2")" "${out[@]}" --dry-run
    ;;
  stop)
    for pid in "$LANES_DIR"/*.pid; do
      [ -f "$pid" ] || continue
      if running "$pid"; then
        kill -TERM -- "-$(cat "$pid")" 2>/dev/null || kill -TERM "$(cat "$pid")"
        for _ in $(seq 60); do running "$pid" || break; sleep 1; done
        running "$pid" && kill -KILL -- "-$(cat "$pid")" 2>/dev/null
        echo "stopped lane $(basename "$pid" .pid)"
      fi
      rm -f "$pid"
    done
    ;;
  *) usage ;;
esac
