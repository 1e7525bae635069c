"""The `webfunnel` command (CONTRACT §5).

Errors a user can cause are one line on stderr and a non-zero exit; a traceback is a bug
(set WEBFUNNEL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from datetime import date, datetime
from pathlib import Path

from ingest.argtypes import whole_number
from ingest.config import Paths
from ingest.errors import WebfunnelError
from ingest.marts_source import TARGETS, resolve_target


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        raise WebfunnelError(message)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a timestamp (YYYY-MM-DD or YYYY-MM-DDTHH:MM): {value!r}"
        ) from None
    if parsed.tzinfo is not None:
        from datetime import UTC

        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="webfunnel", description="Web analytics as a batch ELT warehouse.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    generate = commands.add_parser("generate", help="write synthetic landing data")
    generate.add_argument("--out", required=True, type=Path)
    generate.add_argument("--start", required=True, type=_date)
    generate.add_argument("--days", required=True, type=whole_number(1))
    generate.add_argument("--visitors", required=True, type=whole_number(1))
    generate.add_argument("--seed", type=int, default=42)

    run = commands.add_parser("run", help="load new landed files and bring the marts up to date")
    run.add_argument("--landing", type=Path)
    run.add_argument("--warehouse", type=Path)
    run.add_argument("--quiet", action="store_true", help="no progress output")
    _add_target(run)

    backfill = commands.add_parser("backfill", help="rebuild over the partitions in [start, end)")
    backfill.add_argument("--start", required=True, type=_timestamp)
    backfill.add_argument("--end", required=True, type=_timestamp)
    backfill.add_argument("--landing", type=Path)
    backfill.add_argument("--warehouse", type=Path)
    backfill.add_argument("--quiet", action="store_true")
    _add_target(backfill)

    report = commands.add_parser("report", help="write the dashboard (one HTML file)")
    report.add_argument("--out", required=True, type=Path)
    report.add_argument("--warehouse", type=Path)
    _add_target(report)

    import_crm = commands.add_parser(
        "import-crm", help="convert a CRM CSV export into a landing crm partition"
    )
    import_crm.add_argument("file", type=Path)
    import_crm.add_argument("--landing", type=Path)
    import_crm.add_argument(
        "--received-at", type=_timestamp, help="the partition hour (default: the file's mtime)"
    )

    summary = commands.add_parser("summary", help="print a short summary read from the marts")
    summary.add_argument("--warehouse", type=Path)
    _add_target(summary)

    from ingest.collect.serve import add_collect_arguments, add_roll_arguments

    add_collect_arguments(commands.add_parser("collect", help="run the HTTP collector"))
    add_roll_arguments(
        commands.add_parser("collect-roll", help="roll the collector's log into the landing zone")
    )
    return parser


def _generate(args: argparse.Namespace) -> None:
    from ingest.generate import generate

    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WebfunnelError(f"cannot create {args.out}: {exc.strerror}") from exc
    summary = generate(
        args.out, args.start, args.days, args.visitors, seed=args.seed, progress=sys.stderr.isatty()
    )
    print(
        f"wrote {summary.files} files to {args.out}: {summary.pings:,} pings, "
        f"{summary.signups:,} signups, {summary.crm_rows:,} CRM rows, "
        f"{summary.account_events:,} account events "
        f"({summary.bad_rows} bad rows, {summary.bad_files} bad files, "
        f"{summary.duplicate_rows} redelivered rows on purpose)"
    )


def _add_target(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--target",
        choices=TARGETS,
        help="the engine: duckdb (default), postgres or redshift (default: $WEBFUNNEL_TARGET)",
    )


def _server_target(args: argparse.Namespace) -> str | None:
    """`--target` or `WEBFUNNEL_TARGET` = postgres or redshift sends run/backfill to a
    server loader; None for the DuckDB pipeline."""
    target = resolve_target(args.target)
    return None if target == "duckdb" else target


def _server_load(target: str, paths: Paths, window: tuple[datetime, datetime] | None, quiet: bool):
    """Load (or, with a window, reload) on PostgreSQL from the landing folder, or on Redshift
    from the landing zone on S3 (``WEBFUNNEL_RS_LANDING``; ``--landing`` does not apply)."""
    if target == "redshift":
        from ingest import redshift_load

        where = redshift_load.RedshiftLanding.from_environment()
        if window is None:
            return redshift_load.run(where, quiet=quiet)
        return redshift_load.backfill(where, *window, quiet=quiet)
    from ingest import pg_load

    if window is None:
        return pg_load.run(paths.landing, paths.archive, target=target, quiet=quiet)
    return pg_load.backfill(
        paths.landing, *window, archive=paths.archive, target=target, quiet=quiet
    )


def _run(args: argparse.Namespace) -> None:
    from ingest.pipeline import run

    paths = Paths.resolve(args.landing, args.warehouse)
    target = _server_target(args)
    if target is not None:
        stats = _server_load(target, paths, None, args.quiet)
        print(
            f"webfunnel run ({target}): {stats.batches_loaded} batches loaded "
            f"({stats.rows_loaded:,} rows), {stats.batches_discarded} discarded, "
            f"{stats.batches_retrying} awaiting retry, {stats.rows_quarantined:,} rows "
            "quarantined"
        )
        return
    summary = run(paths, quiet=args.quiet)
    print(f"webfunnel run: {summary.line()}")
    print(f"marts published to {paths.warehouse}")


def _backfill(args: argparse.Namespace) -> None:
    from ingest.pipeline import backfill

    paths = Paths.resolve(args.landing, args.warehouse)
    target = _server_target(args)
    if target is not None:
        stats = _server_load(target, paths, (args.start, args.end), args.quiet)
        print(
            f"webfunnel backfill ({target}) [{args.start}, {args.end}): "
            f"{stats.batches_loaded} batches reloaded ({stats.rows_loaded:,} rows)"
        )
        return
    summary = backfill(paths, args.start, args.end, quiet=args.quiet)
    print(f"webfunnel backfill [{args.start}, {args.end}): {summary.line()}")


def _report(args: argparse.Namespace) -> None:
    from ingest.report import ReportError, write_report

    paths = Paths.resolve(None, args.warehouse)
    try:
        result = write_report(paths.warehouse, args.out, resolve_target(args.target))
    except ReportError as exc:
        raise WebfunnelError(str(exc)) from exc
    print(f"dashboard written to {Path(result.out).absolute()}")
    # the page names its gaps; a scheduled `report` should not need the page opened to see them
    if not result.has_data:
        print(f"webfunnel: the dashboard shows no data: {result.reason}", file=sys.stderr)
    for warning in result.warnings:
        print(f"webfunnel: warning: {warning}", file=sys.stderr)


def _summary(args: argparse.Namespace) -> None:
    from ingest.summary import print_summary

    paths = Paths.resolve(None, args.warehouse)
    print_summary(paths.warehouse, resolve_target(args.target))


def _collect(args: argparse.Namespace) -> None:
    from ingest.collect.serve import run_collect

    code = run_collect(args)
    if code:
        raise SystemExit(code)


def _collect_roll(args: argparse.Namespace) -> None:
    from ingest.collect.serve import run_roll

    code = run_roll(args)
    if code:
        raise SystemExit(code)


def _import_crm(args: argparse.Namespace) -> None:
    from ingest.crm_import import import_export

    paths = Paths.resolve(args.landing, None)
    if not args.file.is_file():
        raise WebfunnelError(f"no such file: {args.file}")
    result = import_export(args.file, paths.landing, received_at=args.received_at)
    print(f"webfunnel import-crm: {result.line()}")


COMMANDS = {
    "collect": _collect,
    "collect-roll": _collect_roll,
    "generate": _generate,
    "run": _run,
    "backfill": _backfill,
    "report": _report,
    "summary": _summary,
    "import-crm": _import_crm,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except WebfunnelError as exc:
        print(f"webfunnel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("webfunnel: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line unless debugging
        if os.environ.get("WEBFUNNEL_DEBUG"):
            traceback.print_exc()
        else:
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(
                f"webfunnel: internal error: {type(exc).__name__}: {first} "
                "(set WEBFUNNEL_DEBUG=1 for a traceback)",
                file=sys.stderr,
            )
        return 70
    return 0


def entry() -> None:
    """The console script: the command, then the exit, without its garbage collection.

    The interpreter's teardown garbage-collects every object still alive. In a process that
    imported dbt and ran a build (thousands of classes and modules, their caches) that took
    about 1 s of every hourly run, to free memory the exit frees anyway. Objects frozen
    with ``gc.freeze()`` are left out of those collections; exit hooks, finalizers and the
    wait for running threads happen as usual."""
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    entry()
