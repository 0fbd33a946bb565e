#!/usr/bin/env bash
# A sweep (by default sweeps/gpu-lease.toml: issue 16 items 2 and 7) on a GPU machine, in ONE command, with the
# run folders brought back as at most 4 archive parts of 15 MiB (`lottery pack`, concave_lottery.runs.transfer).
#
#   bash scripts/gpu_campaign.sh [SPEC] [DURATION]
#
# SPEC      a sweep spec (default sweeps/gpu-lease.toml: the ResNet-20 bf16 parity runs, then the converged campaign)
# DURATION  how long after the start training stops, in s, m or h (default 7m: a lent machine runs one command
#           for at most 10 minutes, and the packing and the transfers need the rest; the CPU benchmark below,
#           when it runs, comes out of this time). Runs not finished by then keep their
#           epoch checkpoints, travel back unfinished and resume wherever they are unpacked, nothing lost.
#
# Environment: OUT (where the parts go; set on a lent machine, else _build/gpu-campaign), PY (default python3:
# the lent machine's python holds torch), CARRY (default .carry: what scripts/gpu_stage.sh staged),
# LOTTERY_DATA_MIRROR (default CARRY/data), RESULTS (the results root there, default results),
# GPU_WORKERS (runs at once on the GPU, default: every unfinished run, at most 12), DEVICE (default cuda; cpu
# only to test this script), CPU_BENCH (auto: the CPU step benchmark runs first where the machine's CPU has
# native bf16; yes: always; no: never), BENCH_TIME (its limit, default 150s).
#
# What CARRY holds is used when present: CARRY/in/runs-*.part* (the unfinished runs, unpacked into RESULTS
# first, so they resume) and CARRY/todo.txt (the runs to train, `--only`; the finished ones are not sent and
# not trained again). The parts that come back hold those runs alone (`lottery pack --only … --fit`: should
# they not fit in 4 x 15 MiB, the least far along are left out and named in the log).
#
# On a session with a lent GPU (README, "Carrying runs between machines, and a campaign on a lent GPU"):
#   here:   bash scripts/gpu_stage.sh            (packs the unfinished runs and the data into .carry/, and takes
#                                                 results/ out of git's index so that the tree fits in 64 MiB)
#   device: run(command="bash scripts/gpu_campaign.sh", carry=[".carry"], timeout_s=600)
#   here:   bash scripts/gpu_stage.sh --restore; lottery unpack <files_at>/runs-*.tar.gz.part* --into results
#           (unpack verifies every run and keeps the further copy of each)
set -uo pipefail
cd "$(dirname "$0")/.."
SPEC=${1:-sweeps/gpu-lease.toml}
DURATION=${2:-7m}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-_build/gpu-campaign}
RESULTS=${RESULTS:-results}
CARRY=${CARRY:-.carry}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 LOTTERY_PROGRESS=0
export LOTTERY_DATA_MIRROR=${LOTTERY_DATA_MIRROR:-$PWD/$CARRY/data}
lottery() { "$PY" -m concave_lottery.cli "$@"; }
ONLY=()
[ -f "$CARRY/todo.txt" ] && ONLY=(--only "@$CARRY/todo.txt")

mkdir -p "$OUT"
[[ $DURATION =~ ^[0-9]+[smh]?$ ]] || {
  echo "gpu_campaign: DURATION=$DURATION is not allowed: a whole number of seconds, or of minutes or hours with m or h (e.g. 7m)" >&2; exit 2; }
seconds() { case "$1" in *h) echo $(( ${1%h} * 3600 ));; *m) echo $(( ${1%m} * 60 ));; *s) echo "${1%s}";; *) echo "$1";; esac; }
stop_at=$(( $(date +%s) + $(seconds "$DURATION") ))  # training stops DURATION after the start, the benchmark included
echo "== $(date -u +%FT%TZ) gpu_campaign: $SPEC for at most $DURATION on $DEVICE"
if [ "$DEVICE" = cuda ]; then
  nvidia-smi -L || true
  "$PY" -c 'import torch, sys; ok = torch.cuda.is_available(); print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0) if ok else None); sys.exit(0 if ok else 3)' \
    || { echo "gpu_campaign: CUDA is not available to $PY; nothing trained" >&2; exit 3; }
fi
# The machine's own python runs the library (a lent image's torch, not this repository's pin: tried with
# torch 2.11.0 / torchvision 0.26.0 on the CPU). What a sweep and `lottery pack` import must be there; the
# notebook packages (papermill, jupytext) and submitit are not needed. Missing ones are named before any work.
"$PY" -c 'import importlib, sys
def absent(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return True
    return False
missing = [m for m in ("torch", "torchvision", "numpy", "pandas", "tqdm", "PIL", "safetensors") if absent(m)]
sys.exit(f"gpu_campaign: {sys.executable} lacks {missing}: carry them as wheels, installed with pip --target before this script; nothing trained" if missing else 0)' \
  || exit 3
# The lent machine's own CPU may compute bf16 natively (AMX or AVX512-BF16): then the step benchmark (issue 16,
# item 1: the ratios on such a CPU) runs first, on quiet cores, into $OUT/step_speed.txt.
CPU_BENCH=${CPU_BENCH:-auto}
if [ "$CPU_BENCH" = yes ] || { [ "$CPU_BENCH" = auto ] && grep -q -E -w 'amx_bf16|avx512_bf16' /proc/cpuinfo 2>/dev/null; }; then
  echo "== CPU step benchmark first (CPU_BENCH=$CPU_BENCH; at most ${BENCH_TIME:-150s})"
  timeout --signal=TERM "${BENCH_TIME:-150s}" "$PY" benchmarks/step_speed.py --threads 1,2 --models resnet20 \
    --steps 4 --repeats 2 --overheads > "$OUT/step_speed.txt" 2>&1
  echo "== step_speed exit status $? (its output: step_speed.txt)"; tail -n 25 "$OUT/step_speed.txt"
fi
shopt -s nullglob
carried=("$CARRY"/in/runs-*.tar.gz.part*)
if [ ${#carried[@]} -gt 0 ]; then
  lottery unpack "${carried[@]}" --into "$RESULTS" || { echo "gpu_campaign: a carried run was refused; nothing trained" >&2; exit 1; }
fi
dry=$(lottery sweep "$SPEC" --out "$RESULTS" "${ONLY[@]}" --dry-run) || exit $?
todo=$(grep -c '^todo' <<< "$dry")
workers=${GPU_WORKERS:-$(( todo < 12 ? (todo > 0 ? todo : 1) : 12 ))}
echo "== $todo unfinished runs; $workers at once"
left=$(( stop_at - $(date +%s) )); [ "$left" -gt 0 ] || left=1
echo "== training for at most ${left}s"
timeout --signal=TERM --kill-after=30s "${left}s" \
  "$PY" -m concave_lottery.cli sweep "$SPEC" --out "$RESULTS" "${ONLY[@]}" --device "$DEVICE" --workers "$workers" --threads 1
status=$?
[ $status -eq 124 ] && echo "== stopped after $DURATION: unfinished runs keep their checkpoints"
lottery sweep "$SPEC" --out "$RESULTS" "${ONLY[@]}" --dry-run | tail -n 1
lottery pack --spec "$SPEC" --root "$RESULTS" "${ONLY[@]}" --fit --to "$OUT" || exit $?
# 0 when the sweep finished or was stopped on time (its runs resume), else the sweep's own status
[ $status -eq 124 ] && exit 0
exit $status
