#!/usr/bin/env bash
# Stage this checkout for scripts/gpu_campaign.sh on a lent GPU machine, whose call sends the working tree
# (tracked files, untracked files that git does not ignore, and the carried paths) only up to 64 MiB: the
# committed results/ (about 300 MB) cannot travel, and need not.
#
#   bash scripts/gpu_stage.sh [SPEC]      stage (default SPEC: sweeps/gpu-lease.toml, parity runs and converged campaign)
#   bash scripts/gpu_stage.sh --restore   undo the git part: right after the device call, before any commit
#
# Staging writes into CARRY (default .carry, git-ignored; the device call names it in `carry`):
#   CARRY/in/runs-*.tar.gz.partNN   the spec's started, unfinished runs (`lottery pack --unfinished --fit`), so
#                                   that they resume there from their checkpoints instead of starting afresh;
#   CARRY/todo.txt                  every unfinished run of the spec, by folder name: the device trains these
#                                   alone (`lottery sweep --only @CARRY/todo.txt`), not the finished runs it
#                                   is not sent;
#   CARRY/data/DATA_FILE            the data (default cifar10-subset.npz, from $LOTTERY_DATA or data/, else
#                                   from $LOTTERY_DATA_MIRROR).
# It then takes results/ out of git's index (`git rm -r --cached`: the files stay, and runs training here
# go on) and adds `/results/` (after a comment line) to .git/info/exclude, so that results/ does not travel,
# and prints the size that travels. Above LIMIT_MIB (default 64) it undoes this and exits 1.
# --restore puts results/ back in the index from HEAD (`git reset -- results`: files untouched) and removes
# the exclude line. Committing in between would commit results/' removal: restore first.
# This assumes the transfer counts what git's index tracks (`git ls-files`), as the size printed here does. Should
# a device call still answer that the tree is over 64 MiB (it would then be reading HEAD's tree), commit the
# staged index on a detached HEAD (`git checkout --detach && git commit -m "results/ out, for a GPU call"`), make
# the call, then `git symbolic-ref HEAD refs/heads/main && bash scripts/gpu_stage.sh --restore`: the files are
# never touched.
#
# Environment: CARRY, DATA_FILE, LIMIT_MIB, PY (default .venv/bin/python if present, else python3), REPO (the
# checkout, default this script's).
set -uo pipefail
REPO=${REPO:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$REPO" || exit 2
CARRY=${CARRY:-.carry}
MARK="# gpu_stage.sh hid results/ (next line); undo: bash scripts/gpu_stage.sh --restore"
EXCLUDE=$(git rev-parse --git-path info/exclude) || exit 2

restore() {
  git reset -q -- results || return 1
  if [ -f "$EXCLUDE" ]; then
    awk -v mark="$MARK" '$0 == mark {skip = 1; next} skip && $0 == "/results/" {skip = 0; next} {skip = 0; print}' \
      "$EXCLUDE" > "$EXCLUDE.tmp" && mv "$EXCLUDE.tmp" "$EXCLUDE"
  fi
  if git diff --cached --quiet -- results; then
    echo "gpu_stage: results/ is tracked again ($(git ls-files results | wc -l) files)"
  else
    echo "gpu_stage: results/ still differs from HEAD in the index; see git status" >&2; return 1
  fi
}
if [ "${1:-}" = "--restore" ]; then restore; exit $?; fi

SPEC=${1:-sweeps/gpu-lease.toml}
DATA_FILE=${DATA_FILE:-cifar10-subset.npz}
LIMIT_MIB=${LIMIT_MIB:-64}
if [ -z "${PY:-}" ]; then if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi; fi
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
lottery() { "$PY" -m concave_lottery.cli "$@"; }
[ -f "$SPEC" ] || { echo "gpu_stage: SPEC=$SPEC is not a file: give a sweep spec (sweeps/*.toml)" >&2; exit 2; }
if grep -q -F -x -- "$MARK" "$EXCLUDE" 2>/dev/null; then
  echo "gpu_stage: results/ is already hidden (a stage not restored): run bash scripts/gpu_stage.sh --restore first" >&2
  exit 2
fi

git diff --cached --quiet -- results || {
  echo "gpu_stage: results/ has staged changes (git diff --cached -- results); commit them first: staging takes results/ out of the index and --restore puts back HEAD's" >&2; exit 2; }

rm -rf "$CARRY/in" "$CARRY/todo.txt" "$CARRY/todo.tmp"
mkdir -p "$CARRY/in" "$CARRY/data" || exit 2
lottery sweep "$SPEC" --dry-run > "$CARRY/dry-run.txt" || exit $?
awk '$1 == "todo" {n = split($2, p, "/"); print p[n]}' "$CARRY/dry-run.txt" > "$CARRY/todo.tmp"
echo "gpu_stage: $(wc -l < "$CARRY/todo.tmp") unfinished runs of $SPEC"
if lottery pack --spec "$SPEC" --unfinished --fit --to "$CARRY/in" > "$CARRY/pack.txt" 2>&1; then
  cat "$CARRY/pack.txt"
elif grep -q "nothing to pack" "$CARRY/pack.txt"; then
  echo "gpu_stage: no run has started yet; all start afresh there"
else
  cat "$CARRY/pack.txt" >&2; exit 1
fi
if ! [ -f "$CARRY/data/$DATA_FILE" ]; then
  for dir in "${LOTTERY_DATA:-data}" "${LOTTERY_DATA_MIRROR:-}"; do
    if [ -n "$dir" ] && [ -f "$dir/$DATA_FILE" ]; then cp "$dir/$DATA_FILE" "$CARRY/data/" && break; fi
  done
fi
[ -f "$CARRY/data/$DATA_FILE" ] || { echo "gpu_stage: DATA_FILE=$DATA_FILE is in neither the data root nor the mirror; \`lottery data check\` says where the data is" >&2; exit 2; }

git rm -r -q --cached --ignore-unmatch -- results || exit 1
printf '%s\n/results/\n' "$MARK" >> "$EXCLUDE"
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
carried=$(du -sb "$CARRY" | cut -f1)
total=$(( ${tree:-0} + carried ))
awk -v t="${tree:-0}" -v c="$carried" -v d="$CARRY" -v l="$LIMIT_MIB" 'BEGIN { m = 1048576;
  printf "gpu_stage: what travels: working tree %.1f MiB + %s %.1f MiB = %.1f MiB (limit %s MiB)\n", t/m, d, c/m, (t+c)/m, l }'
if [ "$total" -gt $(( LIMIT_MIB * 1048576 )) ]; then
  echo "gpu_stage: that is over the limit; results/ restored. Carry fewer runs (lottery pack --only)." >&2
  rm -rf "$CARRY/in" "$CARRY/todo.tmp"; restore; exit 1
fi
mv "$CARRY/todo.tmp" "$CARRY/todo.txt"  # last: a stage that failed leaves no list for gpu_campaign.sh to read
echo "gpu_stage: staged ($CARRY/todo.txt). Device: run(command=\"bash scripts/gpu_campaign.sh $SPEC\", carry=[\"$CARRY\"], timeout_s=600);"
echo "  then here: bash scripts/gpu_stage.sh --restore; lottery unpack <files_at>/runs-*.part* --into results"
