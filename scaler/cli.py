"""The `calendar-scaler` command: serve, validate, plan, query. Thin: parse flags, call in.

Exit status: 0 ok, 1 an error the user can fix (bad calendar, bad metadata, failed query),
2 wrong command-line usage (argparse's convention).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from scaler.calendar.evaluation import Plan, check_workload, plan
from scaler.calendar.model import Calendar
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.timefmt import format_instant, parse_duration, parse_instant
from scaler.calendar.workload import parse_metadata
from scaler.errors import CalendarError, ScalerError, UsageError

__all__ = ["main"]

DEFAULT_HOURS = 48


def example_calendar() -> Path:
    """The calendar shipped with the package, served when no --calendar is given."""
    return Path(str(resources.files("scaler") / "examples" / "sales.yaml"))


def _meta(pairs: Sequence[str]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta {pair!r}: write KEY=VALUE, e.g. --meta baseReplicas=4")
        metadata[key] = value
    return metadata


def _time(text: str, flag: str) -> int:
    import datetime as dt

    try:
        return parse_instant(text, dt.UTC)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from exc


def load_file(path: str) -> Calendar:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CalendarError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    return parse_calendar(data, name=file.stem, origin=path)


# -- validate ---------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            calendar = load_file(path)
        except CalendarError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            status = 1
            continue
        count = len(calendar.events)
        print(f"{path}: ok, {count} event{'s' if count != 1 else ''}")
        for ignored in calendar.ignored:
            print(f"{path}: ignored {ignored}")
    return status


# -- plan -------------------------------------------------------------------------------------


def _plan_range(args: argparse.Namespace) -> tuple[int, int]:
    start = _time(args.start, "--from") if args.start else int(time.time())
    if args.to and args.hours is not None:
        raise UsageError("give either --to or --hours, not both")
    if args.to:
        end = _time(args.to, "--to")
    else:
        hours = DEFAULT_HOURS if args.hours is None else args.hours
        if hours <= 0:
            raise UsageError(f"--hours {hours}: give a number of hours > 0, e.g. --hours 48")
        end = start + int(hours * 3600)
    if end <= start:
        raise UsageError(
            f"--to {format_instant(end)} is not after --from {format_instant(start)}; "
            "the range is [from, to)"
        )
    return start, end


def _format_table(result: Plan) -> str:
    rows = [f"workload {result.workload}, {format_instant(result.start)} to "
            f"{format_instant(result.end)} (UTC)", "",
            f"{'AT (UTC)':<22}{'REPLICAS':>9}  EVENTS"]  # fmt: skip
    for point in result.points:
        rows.append(f"{format_instant(point.at):<22}{point.value:>9}  {', '.join(point.events)}")
    return "\n".join(rows)


def cmd_plan(args: argparse.Namespace) -> int:
    calendar = load_file(args.file)
    metadata = _meta(args.meta)
    metadata.pop("calendars", None)  # plan reads the one FILE it is given
    workload = parse_metadata(args.namespace, args.name, metadata)
    start, end = _plan_range(args)
    check_workload([calendar], workload, start)
    result = plan([calendar], workload, start, end)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(_format_table(result))
    return 0


# -- query ------------------------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    import grpc

    from scaler._proto import externalscaler_pb2 as pb
    from scaler._proto import externalscaler_pb2_grpc as pb_grpc

    metadata = _meta(args.meta)
    ref = pb.ScaledObjectRef(namespace=args.namespace, name=args.name, scalerMetadata=metadata)
    with grpc.insecure_channel(args.address) as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        step = "GetMetricSpec"
        try:
            spec = stub.GetMetricSpec(ref, timeout=args.timeout).metricSpecs[0]
            step = "GetMetrics"
            request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName)
            values = stub.GetMetrics(request, timeout=args.timeout).metricValues
            step = "IsActive"
            active = stub.IsActive(ref, timeout=args.timeout).result
        except grpc.RpcError as exc:
            code = exc.code()
            print(f"{step} failed: {code.name if code else 'UNKNOWN'}: {exc.details()}",
                  file=sys.stderr)  # fmt: skip
            if code == grpc.StatusCode.UNAVAILABLE and step == "GetMetricSpec":
                print(f"is `calendar-scaler serve` running at {args.address}?", file=sys.stderr)
            return 1
    # As KEDA reads it: metricValueFloat when > 0, else metricValue; all values summed.
    value = sum(v.metricValueFloat if v.metricValueFloat > 0 else v.metricValue for v in values)
    print(f"workload:  {args.namespace}/{args.name}")
    print(f"metric:    {spec.metricName} (targetSize {spec.targetSize}, "
          f"targetSizeFloat {spec.targetSizeFloat:g})")  # fmt: skip
    print(f"value:     {value:g}  (replica floor the calendar asks for now)")
    print(f"active:    {'true' if active else 'false'}")
    return 0


# -- serve ------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from scaler.service.app import ServeOptions, run

    calendars = list(args.calendar)
    options = ServeOptions(
        calendars=calendars,
        config_file=Path(args.config) if args.config else None,
        example=example_calendar(),
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        tls_client_ca=Path(args.tls_client_ca) if args.tls_client_ca else None,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        refresh=args.refresh,
        log_level=args.log_level,
    )
    return run(options)


# -- wiring -----------------------------------------------------------------------------------


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _workload_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--namespace", required=required, default="default",
                        help="the ScaledObject's namespace (default: %(default)s)")  # fmt: skip
    parser.add_argument("--name", required=required, default="workload",
                        help="the ScaledObject's name (default: %(default)s)")  # fmt: skip
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                        help="trigger metadata, repeatable, e.g. --meta baseReplicas=4")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calendar-scaler",
        description="KEDA external scaler that raises the replica floor before known sales.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve KEDA's external scaler protocol")
    serve.add_argument("--calendar", action="append", default=[], metavar="NAME=PATH_OR_URL",
                       help="a calendar source, repeatable; none: the shipped example")  # fmt: skip
    serve.add_argument("--config", metavar="FILE", help="YAML file listing calendars")
    serve.add_argument("--grpc-port", type=int, default=9090)
    serve.add_argument("--http-port", type=int, default=8080, help="metrics, health, status page")
    serve.add_argument("--tls-cert", metavar="F")
    serve.add_argument("--tls-key", metavar="F")
    serve.add_argument("--tls-client-ca", metavar="F", help="require client certificates (mTLS)")
    serve.add_argument("--state-dir", metavar="DIR", help="keep last good remote calendars here")
    serve.add_argument("--refresh", type=_duration, default=60, metavar="DURATION",
                       help="how often URL sources are fetched (default: 60s)")  # fmt: skip
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    validate = commands.add_parser("validate", help="check calendar files (YAML, JSON, .ics)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=cmd_validate)

    plan_cmd = commands.add_parser("plan", help="the replicas a workload gets over time")
    plan_cmd.add_argument("file", metavar="FILE")
    _workload_flags(plan_cmd, required=False)
    plan_cmd.add_argument("--from", dest="start", metavar="TIME",
                          help="start (calendar time format, UTC without offset; default now)")  # fmt: skip
    plan_cmd.add_argument("--to", metavar="TIME", help="end, exclusive")
    plan_cmd.add_argument("--hours", type=float, metavar="N",
                          help=f"length instead of --to (default {DEFAULT_HOURS})")  # fmt: skip
    plan_cmd.add_argument("--format", choices=["table", "json"], default="table")
    plan_cmd.set_defaults(func=cmd_plan)

    query = commands.add_parser("query", help="ask a running scaler as KEDA does")
    query.add_argument("--address", default="localhost:9090", metavar="HOST:PORT")
    _workload_flags(query, required=True)
    query.add_argument("--timeout", type=float, default=5.0, help="seconds per call")
    query.set_defaults(func=cmd_query)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except CalendarError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except ScalerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `calendar-scaler plan ... | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
