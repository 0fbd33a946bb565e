"""The ``lottery`` command.

::

    lottery presets [--keys]                      the presets and their protocols (--keys: every parameter)
    lottery run PRESET [key=value ...] [--out DIR] [--device auto|cpu|cuda] [--quiet]
    lottery sweep SPEC [--workers N] [--dry-run]  a grid of runs from a TOML spec (skip finished, resume);
                  [--executor local|submitit-local|slurm --slurm-* ... --detach]  on a SLURM cluster
    lottery results [ROOT]                        the finished runs under ROOT: sparsity, accuracy, hardware, time
    lottery calibrate PRESET target_sparsity=S [tolerance=T] [budget=N] [vary=lam|eps] [key=value ...] [--ticket]
                                                  λ (or ε) for a target sparsity, by bisection over cached probes
    lottery export RUN_DIR --format F [--round N] [--out PATH]   a run's trained ticket: torch-prune|sparse|compact
    lottery audit RUN_DIR                         check a run's ticket against its record (exit 1 on a mismatch)
    lottery pack (RUN_DIR ... | --spec SPEC) --to DIR   run folders into archive parts (<= 4 x 15 MiB), to carry
    lottery unpack PART ... [--into ROOT] [--replace]   verify archive parts and install their runs
    lottery data check | fetch NAME|all           datasets: where they come from, verified or not
    lottery book build|run|publish ...            the book (see ``lottery book --help``)

``lottery run`` prints the path of ``result.json`` as its last line. A user error (unknown preset,
model, dataset or key; a value out of range; a missing dataset) prints one paragraph naming the
parameter, the value given and what is allowed, and exits with status 2, without a traceback.
``lottery calibrate`` exits with status 3 when the target sparsity is not reached (budget spent, or the
target lies outside what the bracket can be widened to), after printing the probes and writing the record.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from .errors import UserError, os_error

_CALIBRATE_OUT = "results/target-sparsity"  # concave_lottery.runs.calibrate.DEFAULT_OUT (not imported: torch)


class CalibrationNotReached(UserError):
    """``lottery calibrate`` spent its budget or bracket without reaching the target: exit status 3."""

    exit_status = 3


def _cmd_presets(args: argparse.Namespace) -> int:
    from .runs.config import PRESETS, config_help

    for preset in PRESETS.values():
        print(preset.name)
        print(textwrap.indent(textwrap.fill(preset.description, 96), "    "))
    if args.keys:
        print("\nParameters (lottery run PRESET key=value ...):")
        for name, default, text in config_help():
            print(f"  {name:<18} {default:<14} {text}")
    return 0


def _summary_line(record: dict) -> str:
    acc = record.get("test_accuracy")
    best = record.get("best_test_accuracy")
    accs = f"ticket accuracy {acc:.4f} (best {best:.4f})" if acc is not None else "ticket not trained"
    return (f"round {record['round']}: sparsity {record['sparsity']:.4f} "
            f"({record['remaining_weights']:,} weights remain), {accs}, {record['seconds']:.1f} s")


def _cmd_run(args: argparse.Namespace) -> int:
    from .runs.config import parse_assignments, resolve_config
    from .runs.lottery import resolve_device, run_lottery

    overrides = parse_assignments(args.overrides)
    device = resolve_device(args.device)  # precision=auto is decided for the device the run will use
    config = resolve_config(args.preset, overrides, device=device)
    progress = False if args.quiet else None
    path, result = run_lottery(config, args.out, device=device, progress=progress)
    if not args.quiet:
        for record in result["rounds"]:
            print(_summary_line(record), file=sys.stderr)
    print(path)
    return 0


def _cmd_extend(args: argparse.Namespace) -> int:
    from .runs.lottery import extend_rounds

    print(extend_rounds(args.run_dir, args.rounds, args.out))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .runs.executors import SlurmOptions, describe_jobs, make_executor, refuse_jobs_of_other_engines, run_key
    from .runs.sweep import load_spec, run_sweep, run_task, select_tasks, stop_on_sigterm

    spec = load_spec(args.spec, out=args.out, device=args.device)
    if args.only is not None:
        spec.tasks = select_tasks(spec.tasks, args.only)
    if args.dry_run:
        import statistics

        from .runs.progress import describe, epoch_seconds, epochs_planned, epochs_trained

        jobs = describe_jobs([t for t in spec.tasks if not t.finished])
        planned = trained = 0
        seconds: list[float] = []
        for task in spec.tasks:
            config, run_dir, finished = task.config, task.run_dir, task.finished
            job = jobs.get(run_key(task))
            done = epochs_trained(run_dir, config)
            planned, trained = planned + epochs_planned(config), trained + done
            seconds += epoch_seconds(run_dir)
            where = "" if finished else f"  [{describe(run_dir, config, done)}]"
            print(f"{'done' if finished else 'todo'}  {run_dir}" + (f"  ({job})" if job else "") + where)
        left = planned - trained
        print(f"{len(spec.tasks)} runs, {sum(t.finished for t in spec.tasks)} finished; {left:,} of {planned:,} "
              "epochs of training left")
        if left and seconds:
            pace = statistics.median(seconds)
            print(f"at the median pace of these runs' recorded epochs ({pace:.1f} s, {len(seconds):,} epochs), about "
                  f"{left * pace / 3600:,.1f} hours of training, shared among the runs trained side by side")
        return 0
    slurm = SlurmOptions(partition=args.slurm_partition, time=args.slurm_time, gpus_per_task=args.slurm_gpus_per_task,
                         cpus_per_task=args.slurm_cpus_per_task, array_parallelism=args.slurm_array_parallelism,
                         max_timeouts=args.slurm_max_timeouts)
    executor = make_executor(args.executor, workers=args.workers, threads=args.threads, detach=args.detach,
                             slurm=slurm, job_name=f"lottery-{Path(args.spec).stem}")
    refuse_jobs_of_other_engines([t for t in spec.tasks if not t.finished], args.executor, args.spec)
    if args.detach:
        submitted = executor.start(run_task, [t for t in spec.tasks if not t.finished])
        for s in submitted:
            print(f"{s.engine} job {s.job.job_id}  {s.task.label()}")
        if submitted:
            print(f"submitit folder (job logs): {executor.folder(spec.out).parent}")
        print(f"{len(spec.tasks)} runs: {len(spec.tasks) - len(submitted)} finished, {len(submitted)} submitted or "
              f"in flight; `lottery sweep {args.spec} --dry-run` shows their state, `lottery sweep {args.spec} "
              f"--executor {args.executor} ...` waits for them")
        return 0
    stop_on_sigterm()
    outcomes = run_sweep(spec.tasks, executor)
    failed = [o for o in outcomes if not o.ok]
    for o in outcomes:
        state = "skipped (finished)" if o.skipped else ("ok" if o.ok else "FAILED")
        print(f"{state:<18} {o.seconds:8.1f} s  {o.task.label()}")
    for o in failed:
        print(f"\n{o.task.label()} failed:\n{o.error}", file=sys.stderr)
    print(f"{len(outcomes)} runs: {len(outcomes) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import shlex

    from tqdm import tqdm

    from .runs.calibrate import calibrate, parse_calibration_args, probe_table, train_ticket
    from .runs.config import parse_assignments, resolve_config
    from .runs.lottery import resolve_device

    spec, overrides = parse_calibration_args(parse_assignments(args.overrides))
    device = resolve_device(args.device)
    base = resolve_config(args.preset, overrides, device=device)
    name = "λ" if spec.vary == "lam" else "ε"
    command = shlex.join(["lottery", "calibrate", args.preset, *args.overrides]
                         + (["--out", args.out] if args.out != _CALIBRATE_OUT else []))
    bar = tqdm(total=spec.budget, desc=f"calibrate {name}", unit="probe", disable=True if args.quiet else None,
               file=sys.stderr, dynamic_ncols=True)

    def on_probe(entry: dict, bisection: Any, cached: bool) -> None:
        bar.update(1)
        bar.write(f"probe {entry['order']}: {name} = {entry['value']:.4g}  sparsity {entry['sparsity']:.4f}"
                  f"{'  (cached)' if cached else ''}", file=sys.stderr)

    try:
        path, record = calibrate(base, spec, args.out, device=device, progress=False if args.quiet else None,
                                 command=command, on_probe=on_probe)
    finally:
        bar.close()
    print(_format_rows(probe_table(record)))
    found, target = record["found"], f"{spec.target_sparsity:g} ± {spec.tolerance:g}"
    if record["monotone"]:
        dips = record["dips_within_slack"]
        largest = max((abs(d["upper"]["sparsity"] - d["lower"]["sparsity"]) for d in dips), default=0.0)
        noise = (f" (up to {len(dips)} dip(s) of at most {largest:.4f} <= {record['monotone_slack']:g}, "
                 f"training noise)") if dips else ""
        print(f"sparsity({name}) was monotone over the {len(record['probes'])} probes{noise}")
    else:
        pairs = "; ".join(f"s({v['lower']['value']:.4g}) = {v['lower']['sparsity']:.4f} then "
                          f"s({v['upper']['value']:.4g}) = {v['upper']['sparsity']:.4f}" for v in record["violations"])
        print(f"WARNING: sparsity({name}) is NOT monotone over the probes ({pairs}): the value found is where "
              f"the probes crossed the target, and another {name} may reach it too")
    print(f"record: {path}")
    if not record["reached"]:
        raise CalibrationNotReached(
            f"the target sparsity {target} was not reached: {record['reason']}. The closest probe, {name} = "
            f"{found['value']:.4g}, reached {found['sparsity']:.4f}. Each probe is a cached run: rerun with a larger "
            f"budget= (now {spec.budget}), another bracket (lo=, hi=) or another protocol (epochs, mask_lr_scale, "
            f"alpha); the probes done are not trained again.")
    print(f"{name} found: {found['value']:.4g}, sparsity reached {found['sparsity']:.4f} (target {target}), "
          f"{len(record['probes'])} probes")
    if args.ticket:
        result_path, result = train_ticket(path, args.out, device=device, progress=False if args.quiet else None)
        for round_record in result["rounds"]:
            print(_summary_line(round_record), file=sys.stderr)
        last = result["rounds"][-1]
        print(f"ticket at {name} = {found['value']:.4g}: sparsity {last['sparsity']:.4f}, test accuracy "
              f"{last['test_accuracy']:.4f}  ({result_path})")
    else:
        print(f"train the ticket at this value: {command} --ticket")
    return 0


def results_table(root: str, problems: list[tuple[str, str]] | None = None):
    """One row per finished run under ``root``: the last round's sparsity and ticket accuracy, rounds,
    the hardware and wall time from its provenance, and the library commit. Every file of each run is
    verified (:func:`~concave_lottery.runs.results.check_finished_run`); a run that fails is left out of
    the table and appended to ``problems`` as (run, reason). Plain rows (no pandas, no torch), so
    ``lottery results`` answers at once."""
    from .runs.config import method_label
    from .runs.results import check_finished_run, find_results, load_result

    rows = []
    for path in find_results(root):
        name = str(path.parent.relative_to(root))
        try:
            check_finished_run(path.parent)
            result = load_result(path)
        except (UserError, OSError) as exc:
            if problems is None:
                raise
            problems.append((name, str(os_error(exc) if isinstance(exc, OSError) else exc)))
            continue
        config, prov, last = result["config"], result["provenance"], result["rounds"][-1]
        rows.append({"run": name, "method": method_label(config),
                     "rounds": len(result["rounds"]), "epochs": config["epochs"],
                     "sparsity %": round(100 * last["sparsity"], 2),
                     "ticket acc %": (None if last.get("test_accuracy") is None
                                      else round(100 * last["test_accuracy"], 2)),
                     "hardware": prov.get("device", "?"), "minutes": round(prov.get("seconds", 0.0) / 60, 1),
                     "commit": str(prov.get("git_commit", "?"))[:8]})
    return rows


def _format_rows(rows: list[dict[str, Any]]) -> str:
    """``rows`` as a left-aligned text table (numbers right-aligned), one header line."""
    columns = list(rows[0])
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[c], (int, float)) or row[c] is None for row in rows) for c in columns]

    def line(values: list[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns)] + [line(r) for r in cells])


def _cmd_results(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .errors import ParameterError

    if not Path(args.root).is_dir():
        raise ParameterError("root", args.root, "the results root must be an existing folder (default: results)")
    problems: list[tuple[str, str]] = []
    table = results_table(args.root, problems)
    if not table:
        print(f"no finished run under {args.root}")
    else:
        print(_format_rows(table))
        print(f"{len(table)} finished runs, {sum(row['minutes'] for row in table) / 60:.1f} hours of training in all")
    for name, reason in problems:
        print(textwrap.fill(f"BAD {name}: {reason}", 100, subsequent_indent="  ", break_long_words=False,
                            break_on_hyphens=False))
    if problems:
        print(f"{len(problems)} runs cannot be used (BAD above: each says what to delete or run)", file=sys.stderr)
        return 2
    return 0


def _cmd_migrate_digests(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .errors import ParameterError
    from .runs.digests import migrate

    if not Path(args.root).is_dir():
        raise ParameterError("root", args.root, "it must be an existing run folder or results root")
    done = migrate(args.root)
    for folder, count in done:
        print(f"{folder}: {count} files adopted")
    print(f"{len(done)} run folders given digests (folders that had them were left alone)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_ticket

    print(export_ticket(args.run_dir, args.format, round=args.round, out=args.out))
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from .runs.audit import audit_run, missing_weights_message
    from .runs.config import RunConfig
    from .runs.digests import Digests
    from .runs.paths import RunDir

    report = audit_run(args.run_dir)
    print("\n".join(report.lines()))
    if not report.ok:
        print(f"lottery audit: FAILED for {report.run}: " + "; ".join(f"{f.check}: {f.message}"
                                                                   for f in report.failures), file=sys.stderr)
        return 1
    if report.missing_weights:
        config = RunConfig.from_dict(Digests(RunDir(report.run)).read_json(RunDir(report.run).config))
        raise UserError(missing_weights_message(report, config))
    print(f"lottery audit: {report.run} passes every check")
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .runs.transfer import pack

    if bool(args.spec) == bool(args.run_dirs):
        raise UserError("lottery pack needs either run folders (RUN_DIR ...) or --spec SPEC, not both and not "
                        "neither.")
    if not args.spec and (args.only is not None or args.unfinished):
        raise UserError("lottery pack: --only and --unfinished choose among the runs of a spec; give --spec SPEC.")
    if args.spec:
        from .runs.sweep import load_spec, select_tasks

        spec = load_spec(args.spec, out=args.root)
        root = Path(spec.out)
        tasks = spec.tasks if args.only is None else select_tasks(spec.tasks, args.only)
        run_dirs = [t.run_dir for t in tasks if t.run_dir.is_dir() and not (args.unfinished and t.finished)]
        if not run_dirs:
            which = "unfinished run" if args.unfinished else "run"
            raise UserError(f"lottery pack: no {which} of {args.spec}{' (--only)' if args.only else ''} has started "
                            f"under {root}: nothing to pack.")
    else:
        run_dirs = [Path(r) for r in args.run_dirs]
        root = Path(args.root) if args.root else run_dirs[0].resolve().parent.parent
    packed = pack(root, run_dirs, args.to, fit=args.fit)
    for rel in packed.runs:
        print(f"packed  {rel}")
    for rel in packed.left_out:
        print(f"LEFT OUT (did not fit in the parts allowed)  {rel}")
    for part in packed.parts:
        print(part)
    print(f"{len(packed.runs)} runs, {packed.size / 2**20:.1f} MiB in {len(packed.parts)} part(s); on the other "
          f"machine: lottery unpack {' '.join(p.name for p in packed.parts)} --into results")
    return 0


def _cmd_unpack(args: argparse.Namespace) -> int:
    from .runs.transfer import unpack

    outcome = unpack(args.parts, args.into, replace=args.replace)
    for u in outcome:
        print(f"{u.state:<10}  {u.run}: {u.action}")
    refused = [u for u in outcome if u.refused]
    print(f"{len(outcome)} runs: {len(outcome) - len(refused)} verified, {len(refused)} refused")
    return 1 if refused else 0


#: Commands whose parsers import heavy modules (torch, torchvision, papermill, yaml): their full parser is
#: built only when the command line names them, so ``lottery --help`` and the light commands stay fast.
_LAZY_COMMANDS = {
    "data": "datasets: where they come from, verified or not (lottery data --help)",
    "book": "execute the chapters and build the book (lottery book --help)",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``lottery`` parser. ``argv`` (the command line, when known) decides which of the heavy
    subcommand parsers are built in full; the others get a one-line entry in ``lottery --help``."""
    parser = argparse.ArgumentParser(
        prog="lottery", description="Concave-regularised lottery tickets (Fracastoro et al., IEEE TNNLS 2025).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("presets", help="list the presets and their protocols")
    p.add_argument("--keys", action="store_true", help="also list every parameter with its default")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("run", help="run one lottery search",
                       description="Run one lottery search; any parameter can be overridden with key=value, "
                                   "e.g. lottery run lenet300-mnist method=soft regularizer=log lam=1e-6 "
                                   "eps=0.1 alpha=0.05 rounds=2 epochs=1 train_subset=2000 seed=1")
    p.add_argument("preset", help="a preset name (lottery presets)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="parameter overrides")
    p.add_argument("--out", default="results", help="results root (default: results)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-round summary")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("sweep", help="run a grid of lottery searches from a TOML spec",
                       description="Run every run of a sweep spec (see concave_lottery.sweep); finished runs "
                                   "are skipped, interrupted ones resume.")
    p.add_argument("spec", help="TOML sweep spec with [[grid]] tables")
    p.add_argument("--out", default=None, help="results root (default: the spec's `out`, else results)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--executor", default="local", metavar="ENGINE",
                   help="local (this machine, default), submitit-local (this machine through submitit: the "
                        "cluster code path) or slurm (one SLURM array job; run it on the login node)")
    p.add_argument("--workers", type=int, default=1,
                   help="runs at once on this machine (local, submitit-local; default: 1)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per run (default: cores / workers)")
    p.add_argument("--detach", action="store_true",
                   help="submit and return (submitit-local, slurm): prints the job ids; the same command without "
                        "--detach waits for them, --dry-run shows their state")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs, whether they are finished, and the state of their submitted jobs")
    p.add_argument("--only", default=None, metavar="RUNS",
                   help="only these runs of the spec: run folder names separated by commas, or @FILE with one a "
                        "line (a machine sent only the unfinished runs, scripts/gpu_stage.sh)")
    g = p.add_argument_group("SLURM (--executor slurm)")
    g.add_argument("--slurm-partition", default=None, metavar="P", help="the partition (default: the cluster's)")
    g.add_argument("--slurm-time", type=int, default=None, metavar="MIN",
                   help="time limit of one task in minutes (required); a task that reaches it is requeued and "
                        "resumes from its last epoch checkpoint")
    g.add_argument("--slurm-gpus-per-task", type=int, default=None, metavar="G", help="GPUs per task, e.g. 1")
    g.add_argument("--slurm-cpus-per-task", type=int, default=None, metavar="C",
                   help="CPUs per task (also its torch threads)")
    g.add_argument("--slurm-array-parallelism", type=int, default=None, metavar="K",
                   help="array tasks running at once (default: submitit's, 256)")
    g.add_argument("--slurm-max-timeouts", type=int, default=None, metavar="N",
                   help="requeues of a task after reaching its time limit (default: 10; pre-emptions do not count)")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("extend", help="give a finished run more rounds, reusing the ones it has",
                       description="Copy a finished run to the run directory of the same config with "
                                   "more rounds (IMP: levels), without its result.json; `lottery run`/`lottery "
                                   "sweep` with that config then trains only the new rounds. Exact: a round never "
                                   "depends on how many follow; an IMP run's last level, left unpruned, is pruned "
                                   "from its kept ticket as the longer run would (concave_lottery.runs.lottery."
                                   "extend_rounds).")
    p.add_argument("run_dir", help="a finished run directory, e.g. results/<preset>/<run name>")
    p.add_argument("--rounds", type=int, required=True, help="the longer run's number of rounds (IMP: levels)")
    p.add_argument("--out", default="results", help="results root of the longer run (default: results)")
    p.set_defaults(func=_cmd_extend)

    p = sub.add_parser("calibrate", help="find λ (or ε) for a target sparsity, by bisection over cached probes",
                       description="Find the λ (vary=lam, default) or the ε at fixed λ (vary=eps) whose search "
                                   "reaches target_sparsity within tolerance, by bisection in log scale over "
                                   "search-only runs (probes) of the protocol PRESET key=value ..., e.g. lottery "
                                   "calibrate lenet300-mnist regularizer=log rounds=1 epochs=10 target_sparsity=0.9. "
                                   "Each probe is an ordinary cached run, so a rerun is free and a stopped "
                                   "calibration resumes; the record (calibration.json) lists every probe. Keys of "
                                   "the calibration: target_sparsity (required), tolerance (0.01), budget (12 "
                                   "probes), vary (lam or eps), lo and hi (the first bracket; default the "
                                   "protocol's value / and · √factor), factor (10). Exit status 3: the target was "
                                   "not reached (concave_lottery.runs.calibrate).")
    p.add_argument("preset", help="a preset name (lottery presets)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="calibration keys and parameter overrides")
    p.add_argument("--out", default=_CALIBRATE_OUT, help=f"results root (default: {_CALIBRATE_OUT})")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--ticket", action="store_true",
                   help="then train the ticket at the value found (its searches are the probe's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("results", help="list the finished runs under a results root",
                       description="One line per finished run: method, rounds, the last round's sparsity and "
                                   "ticket accuracy, the hardware and wall time from its provenance.")
    p.add_argument("root", nargs="?", default="results", help="results root (default: results)")
    p.set_defaults(func=_cmd_results)

    p = sub.add_parser("migrate-digests", help="give run folders written before digests their digests, once",
                       description="Write digests.json for every run folder under ROOT (or the run folder ROOT) "
                                   "that has none, trusting its files as they are (concave_lottery.runs.digests). "
                                   "Folders that have digests are left alone. Do not run it on a run that is "
                                   "being trained by an older version of the library.")
    p.add_argument("root", help="a results root or one run folder")
    p.set_defaults(func=_cmd_migrate_digests)

    p = sub.add_parser("export", help="write a run's trained ticket in a format other tools load",
                       description="Write the trained ticket of a finished run (its last round, or --round N): "
                                   "torch-prune (a state_dict with weight_orig/weight_mask for "
                                   "torch.nn.utils.prune), sparse (safetensors, CSR weights) or compact (a smaller "
                                   "dense network). Prints the path written.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("--format", required=True, metavar="FORMAT",
                   help="torch-prune, sparse or compact (any format of concave_lottery.export.FORMATS)")
    p.add_argument("--round", type=int, default=None, help="the round (IMP level) whose ticket (default: the last)")
    p.add_argument("--out", default=None, help="the file to write (default: <run>-round<N>-<format>.<ext> here)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("audit", help="check a run's ticket against its record",
                       description="Check a finished run: digests, config and records agree, the masks keep the "
                                   "recorded weights, every pruned weight of the saved tickets is exactly 0 and "
                                   "each ticket's test accuracy, recomputed from its files, is the recorded one. "
                                   "Exit status 1 on any mismatch.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("pack", help="pack run folders into archive parts to carry them to another machine",
                       description="Pack run folders (finished or not: an unfinished run carries its checkpoints "
                                   "and resumes where it is unpacked) into gzip tar parts of at most 15 MiB, at "
                                   "most 4 (60 MiB: what a lent GPU machine sends back), named by the archive's "
                                   "sha256. "
                                   "See concave_lottery.runs.transfer.")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run folders (<root>/<preset>/<run name>)")
    p.add_argument("--spec", default=None, help="pack every started run of this sweep spec instead")
    p.add_argument("--only", default=None, metavar="RUNS",
                   help="with --spec: only these runs (folder names separated by commas, or @FILE, one a line)")
    p.add_argument("--unfinished", action="store_true", help="with --spec: only the started runs not yet finished")
    p.add_argument("--fit", action="store_true",
                   help="leave runs out (the least far first) until the rest fit in the parts allowed, instead of "
                        "refusing")
    p.add_argument("--root", default=None, help="the results root (default: the spec's out, or the runs' root)")
    p.add_argument("--to", required=True, help="the folder to write the parts to")
    p.set_defaults(func=_cmd_pack)

    p = sub.add_parser("unpack", help="verify archive parts from `lottery pack` and install their runs",
                       description="Check the parts (complete set, sha256), extract them, verify every run "
                                   "against its digests and config, and install each under the results root; "
                                   "where a copy of a run exists, the one that got further is kept. Exit status "
                                   "1 when a run is refused.")
    p.add_argument("parts", nargs="+", metavar="PART", help="runs-<sha>.tar.gz.partNN files")
    p.add_argument("--into", default="results", help="the results root (default: results)")
    p.add_argument("--replace", action="store_true", help="take the incoming copy even when the one here is as far")
    p.set_defaults(func=_cmd_unpack)

    named = _command_named(argv)
    for command, text in _LAZY_COMMANDS.items():
        if argv is not None and named != command:
            sub.add_parser(command, help=text, add_help=False)
        elif command == "data":
            from .data.commands import add_data_parser

            add_data_parser(sub)
        else:
            try:
                from .book.cli import add_book_parser
            except ImportError as exc:
                raise UserError(f"`lottery book` needs the book's dependencies, which are not installed here "
                                f"({exc}). Install them with: pip install 'concave-lottery[book]' (or, in a "
                                f"clone of the repository, make venv).") from None
            add_book_parser(sub)
    return parser


def _command_named(argv: Sequence[str] | None) -> str | None:
    """The subcommand on the command line: its first argument that is not an option."""
    for arg in argv or ():
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # the reader of our output went away (`lottery presets | head`): stop quietly, as a Unix filter does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (UserError, OSError) as exc:
        if isinstance(exc, OSError):
            exc = os_error(exc)
        lines = f"lottery: error: {exc}".splitlines()
        # paths stay whole (no break inside a word or at its hyphens): an advice can be copied as it is
        print("\n".join(textwrap.fill(line, 100, subsequent_indent="  ", break_long_words=False,
                                       break_on_hyphens=False) for line in lines if line.strip()),
              file=sys.stderr)
        return int(getattr(exc, "exit_status", 2))
    except KeyboardInterrupt:
        print("lottery: interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
