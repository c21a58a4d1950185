"""The `calendar-scaler` command: serve, validate, plan, simulate, query, report. Thin: parse
flags, call in.

Exit status: 0 ok, 1 an error the user can fix (bad calendar, bad metadata, bad flag value,
failed query), 2 wrong command-line usage (argparse's convention) and, for `simulate`, an event
that would start under-provisioned (so it can gate a pipeline; any non-zero fails the gate),
for `report`, an event that was not ready at its start.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from scaler.calendar.evaluation import Plan, check_workload, plan
from scaler.calendar.history import Derivation, Peaks, check_likes, derivations, references
from scaler.calendar.model import Calendar
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.report import STEP as REPORT_STEP
from scaler.calendar.report import EventResult, Report, judge, occasions
from scaler.calendar.timefmt import format_duration, format_instant, parse_duration, parse_instant
from scaler.calendar.workload import Workload, parse_metadata
from scaler.errors import CalendarError, ScalerError, UsageError
from scaler.readiness import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    SEARCH_HORIZON,
    Readiness,
    Settings,
    Simulation,
    parse_scaling_rules,
    simulate,
)

if TYPE_CHECKING:  # imported when a command needs it: `validate` does without httpx
    from scaler.history import PrometheusClient

__all__ = ["main"]

DEFAULT_HOURS = 48
T = TypeVar("T")


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
        message = str(exc).replace(" (local time)", "")
        raise UsageError(f"{flag}: {message}; here a time without an offset is UTC, "
                         "e.g. 2026-11-27T00:00 is midnight UTC") from exc  # fmt: skip


def load_file(path: str) -> Calendar:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CalendarError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    return parse_calendar(data, name=file.stem, origin=path)


def _file_and_workload(args: argparse.Namespace) -> tuple[Calendar, Workload]:
    """FILE and the workload --namespace, --name and --meta describe (`plan`, `simulate`)."""
    calendar = load_file(args.file)
    metadata = _meta(args.meta)
    metadata.pop("calendars", None)  # the command reads the one FILE it is given
    return calendar, parse_metadata(args.namespace, args.name, metadata)


def _prometheus(args: argparse.Namespace) -> PrometheusClient:
    """--prometheus as a client: headers from the environment, few retries (a person waits)."""
    from scaler.history import HistoryLimits, PrometheusClient, headers_from_env

    return PrometheusClient(
        args.prometheus, headers=headers_from_env(os.environ), ca=args.prometheus_ca,
        limits=HistoryLimits(attempts=2, retry_initial=0.5),
    )  # fmt: skip


def _peaks(args: argparse.Namespace, calendar: Calendar, workload: Workload, start: int) -> Peaks:
    """The peaks of the workload's `like` events, asked of --prometheus once each (section 9);
    None without --prometheus."""
    if not args.prometheus:
        if args.history_query or args.prometheus_ca:
            raise UsageError("--history-query and --prometheus-ca need --prometheus URL")
        return None
    from scaler.history import DEFAULT_QUERY
    from scaler.history.peaks import look_up

    refs = references([calendar], workload, start)
    if not refs:
        return {}
    client = _prometheus(args)

    async def ask() -> Peaks:
        async with client:
            template = args.history_query or DEFAULT_QUERY
            return await look_up(client, template, workload.served, refs, time.time())

    return asyncio.run(ask())


def _history_lines(found: Sequence[Derivation]) -> list[str]:
    return [f"  {d.event}: {d.text}" for d in found]


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


def _length(args: argparse.Namespace, *, example: int) -> int | None:
    """--hours in seconds (None when not given), checked against --to and for > 0."""
    if args.to and args.hours is not None:
        raise UsageError("give either --to or --hours, not both")
    if args.hours is None:
        return None
    if args.hours <= 0:
        raise UsageError(
            f"--hours {args.hours:g}: give a number of hours > 0, e.g. --hours {example}"
        )
    return int(args.hours * 3600)


def _plan_range(args: argparse.Namespace) -> tuple[int, int]:
    start = _time(args.start, "--from") if args.start else int(time.time())
    length = _length(args, example=DEFAULT_HOURS)
    if args.to:
        end = _time(args.to, "--to")
    else:
        end = start + (DEFAULT_HOURS * 3600 if length is None else length)
    return _ordered(start, end)


def _ordered(start: int, end: int, note: str = "") -> tuple[int, int]:
    if end <= start:
        raise UsageError(
            f"--to {format_instant(end)} is not after --from {format_instant(start)}; "
            f"the range is [from, to){note}"
        )
    return start, end


def _format_table(result: Plan) -> str:
    rows = [f"workload {result.workload}, {format_instant(result.start)} to "
            f"{format_instant(result.end)} (UTC)", "",
            f"{'AT (UTC)':<22}{'REPLICAS':>9}  EVENTS"]  # fmt: skip
    for point in result.points:
        rows.append(f"{format_instant(point.at):<22}{point.value:>9}  {', '.join(point.events)}")
    return "\n".join(rows)


def _lead_advice(
    calendar: Calendar, workload: Workload, start: int, end: int, peaks: Peaks = None
) -> str:
    """One line: is the lead time enough for the workload's podStartup (see `simulate`)?"""
    assert workload.pod_startup is not None
    settings = Settings(pod_startup=workload.pod_startup)
    sim = simulate([calendar], workload, start, end, settings, peaks=peaks)
    assumed = (
        f"podStartup {format_duration(workload.pod_startup)}, KEDA and HPA defaults; "
        "'calendar-scaler simulate' takes yours"
    )
    count = len(sim.events)
    short = sum(1 for r in sim.events if r.status != "ready")
    rec = sim.recommended_lead_time
    if not count:
        return f"lead time: no events in range ({assumed})"
    if not short:
        return f"lead time: enough, all {count} events ready at their start ({assumed})"
    if rec is not None and all(r.status in ("ready", "late") for r in sim.events):
        return (
            f"lead time: set leadTime to {format_duration(rec)}: {short} of {count} events "
            f"would start under-provisioned ({assumed})"
        )
    return (
        f"lead time: {short} of {count} events would start under-provisioned, some whatever "
        f"the lead time ({assumed})"
    )


def cmd_plan(args: argparse.Namespace) -> int:
    calendar, workload = _file_and_workload(args)
    start, end = _plan_range(args)
    check_workload([calendar], workload, start)
    peaks = _peaks(args, calendar, workload, start)
    check_likes([calendar], workload, peaks, start, end)
    result = plan([calendar], workload, start, end, peaks=peaks)
    history = derivations([calendar], workload, peaks, start)
    # The lead-time line stays out of the JSON: its shape is the contract's (SPEC 7, and
    # /api/plan serves the same object), so JSON readers get the line on stderr.
    # A headroom trigger's pods are placeholders: no lead-time advice for them.
    wanted = workload.pod_startup and workload.headroom_for is None
    advice = _lead_advice(calendar, workload, start, end, peaks) if wanted else None
    if args.format == "json":
        document = result.to_json()
        if history:  # additive: how `like` events were sized (section 9)
            document["history"] = [d.to_json() for d in history]
        print(json.dumps(document, indent=2))
        if advice:
            print(advice, file=sys.stderr)
    else:
        print(_format_table(result))
        if history:
            print("\nsized from history:\n" + "\n".join(_history_lines(history)))
        if advice:
            print(f"\n{advice}")
    return 0


# -- simulate ---------------------------------------------------------------------------------


def _flag(flag: str, text: str | None, parse: Callable[[str], T], default: T) -> T:
    """A flag's value, or a UsageError naming the flag (exit 1: 2 means under-provisioned)."""
    if text is None:
        return default
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r}: {exc}") from exc


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError("give a whole number >= 0")
    return int(text)


# What simulation.Settings calls each value (KEDA's and the HPA's names) -> its flag.
_SETTING_FLAGS = {
    "minReplicaCount": "--min-replicas", "maxReplicaCount": "--max-replicas",
    "initial replicas": "--initial-replicas", "pollingInterval": "--polling-interval",
    "cooldownPeriod": "--cooldown-period", "the HPA sync period": "--hpa-sync",
    "pod start-up": "--pod-startup", "tolerance": "--tolerance", "baseline": "--baseline",
}  # fmt: skip


def _settings(args: argparse.Namespace, workload: Workload) -> Settings:
    startup = workload.pod_startup if workload.pod_startup is not None else 60
    up_window = _flag("--scale-up-stabilization", args.scale_up_stabilization, parse_duration,
                      DEFAULT_SCALE_UP.stabilization)  # fmt: skip
    down_window = _flag("--scale-down-stabilization", args.scale_down_stabilization,
                        parse_duration, DEFAULT_SCALE_DOWN.stabilization)  # fmt: skip
    try:
        return Settings(
            polling_interval=_flag("--polling-interval", args.polling_interval, parse_duration, 30),
            cooldown_period=_flag("--cooldown-period", args.cooldown_period, parse_duration, 300),
            hpa_sync=_flag("--hpa-sync", args.hpa_sync, parse_duration, 15),
            pod_startup=_flag("--pod-startup", args.pod_startup, parse_duration, startup),
            min_replicas=_flag("--min-replicas", args.min_replicas, _count, 0),
            max_replicas=_flag("--max-replicas", args.max_replicas, _count, 100),
            initial_replicas=_flag("--initial-replicas", args.initial_replicas, _count, None),
            tolerance=_flag("--tolerance", args.tolerance, float, 0.1),
            baseline=_flag("--baseline", args.baseline, _count, 0),
            scale_up=_flag("--scale-up-policy", args.scale_up_policy,
                           lambda t: parse_scaling_rules(t, stabilization=up_window),
                           dataclasses.replace(DEFAULT_SCALE_UP, stabilization=up_window)),
            scale_down=_flag("--scale-down-policy", args.scale_down_policy,
                             lambda t: parse_scaling_rules(t, stabilization=down_window),
                             dataclasses.replace(DEFAULT_SCALE_DOWN, stabilization=down_window)),
            node_startup=_flag("--node-startup", args.node_startup, parse_duration, 0),
            free_pods=_flag("--free-pods", args.free_pods, _count, None),
            headroom=_flag("--headroom", args.headroom, parse_duration, None),
        )  # fmt: skip
    except ValueError as exc:  # a rule across flags: name them as the user wrote them
        message = str(exc)
        for setting, flag in _SETTING_FLAGS.items():
            message = message.replace(setting, flag)
        raise UsageError(message) from exc


def _result(row: Readiness, sim: Simulation) -> str:
    rec = row.recommended_lead_time
    late = "" if row.late_by is None else f" by {format_duration(row.late_by)}"
    if row.status == "ready":
        return "ready"
    if row.nodes:
        room = row.recommended_headroom_lead
        fix = (
            f"needs headroomLead {format_duration(room)}"
            if room is not None
            else f"no headroomLead up to {format_duration(SEARCH_HORIZON)} helps"
        )
        other = f" (or leadTime {format_duration(rec)})" if rec is not None else ""
        return f"late{late} for nodes: {fix}{other}"
    if row.status == "late" and rec is not None:
        return f"late{late}: needs leadTime {format_duration(rec)}"
    if row.status == "capped":
        return f"capped: maxReplicas {sim.settings.max_replicas} < {row.asked}"
    if row.status == "tolerance":
        return f"stuck at {row.stuck_at}: {row.asked} is within the HPA tolerance"
    return f"late{late}: no leadTime up to +{format_duration(SEARCH_HORIZON)} helps"


def _format_simulation(sim: Simulation) -> str:
    s = sim.settings
    rows = [
        f"workload {sim.workload}, {format_instant(sim.start)} to {format_instant(sim.end)} (UTC)",
        f"model: HPA sync {format_duration(s.hpa_sync)} (worst of its {s.hpa_sync} phases), "
        f"pod start-up {format_duration(s.pod_startup)}, "
        f"replicas {s.min_replicas}..{s.max_replicas}, tolerance {s.tolerance:g}, "
        f"baseline {s.baseline}",
        f"       scale up {s.scale_up.describe()} (stabilization "
        f"{format_duration(s.scale_up.stabilization)}), scale down {s.scale_down.describe()} "
        f"(stabilization {format_duration(s.scale_down.stabilization)})",
        f"       KEDA polling {format_duration(s.polling_interval)}, cooldown "
        f"{format_duration(s.cooldown_period)}; {sim.initial_replicas} ready replicas at "
        f"{format_instant(sim.simulated_from)} (warm-up before --from)",
        f"       {_nodes_line(s)}",
        "",
    ]  # fmt: skip
    if not sim.events:
        return "\n".join([*rows, "no events for this workload in range"])
    width = max(len("EVENT"), *(len(r.event) for r in sim.events)) + 2
    rows.append(f"{'EVENT':<{width}}{'START (UTC)':<22}{'LEAD':>6}{'ASKED':>7}{'READY':>7}  "
                f"{'FULL CAPACITY (UTC)':<22}RESULT")  # fmt: skip
    for r in sim.events:
        full = "never" if r.full_at is None else format_instant(r.full_at)
        rows.append(f"{r.event:<{width}}{format_instant(r.start):<22}"
                    f"{format_duration(r.lead_time):>6}{r.asked:>7}{r.ready:>7}  {full:<22}"
                    f"{_result(r, sim)}")  # fmt: skip
    rows.append("")
    count, short = len(sim.events), [r for r in sim.events if r.status != "ready"]
    if not short:
        rows.append(f"all {count} event{'s' if count != 1 else ''} ready at the start")
        return "\n".join(rows)
    rows.append(f"{len(short)} of {count} events would start under-provisioned")
    if sim.recommended_headroom_lead is not None:
        room = format_duration(sim.recommended_headroom_lead)
        rows.append(f"headroomLead {room} has every event late for nodes ready: --headroom {room}, "
                    "or a headroom trigger with headroomLead: "
                    f'"{room}" (README "Nodes too: headroom")')  # fmt: skip
    if sim.recommended_lead_time is not None:
        rec = format_duration(sim.recommended_lead_time)
        rows.append(f"leadTime {rec} has every late one ready: --meta leadTime={rec}, "
                    "or set it in the ScaledObject's trigger metadata")  # fmt: skip
    if any(r.status == "capped" for r in short):
        most = max(r.asked for r in short if r.status == "capped")
        rows.append(f"maxReplicaCount caps the calendar: raise it to at least {most}")
    if any(r.status == "tolerance" for r in short):
        rows.append(
            "the HPA ignores changes within its tolerance (KEDA #5263): raise "
            "minReplicaCount, or lower behavior.scaleUp.tolerance (Kubernetes 1.33+)"
        )
    return "\n".join(rows)


def _nodes_line(s: Settings) -> str:
    if s.free_pods is None:
        return "nodes: room for every pod (--node-startup and --headroom need --free-pods N)"
    room = (
        "no headroom trigger"
        if s.headroom is None
        else f"a headroom trigger with headroomLead {format_duration(s.headroom)}"
    )
    return (
        f"nodes: {s.free_pods} free pods, a node {format_duration(s.node_startup)} after a pod "
        f"is pending; {room}"
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    calendar, workload = _file_and_workload(args)
    if workload.headroom_for is not None:
        raise UsageError(
            "simulate models the workload itself: drop --meta headroomFor and give "
            "--headroom DURATION to add its placeholders (the headroomLead)"
        )
    settings = _settings(args, workload)
    start, end = _plan_range(args)
    check_workload([calendar], workload, start)
    peaks = _peaks(args, calendar, workload, start)
    check_likes([calendar], workload, peaks, start, end)
    sim = simulate([calendar], workload, start, end, settings, peaks=peaks)
    history = derivations([calendar], workload, peaks, start)
    if args.format == "json":
        document = sim.to_json()
        if history:
            document["history"] = [d.to_json() for d in history]
        print(json.dumps(document, indent=2))
    else:
        print(_format_simulation(sim))
        if history:
            print("\nsized from history:\n" + "\n".join(_history_lines(history)))
    return 0 if sim.ok else 2


# -- query ------------------------------------------------------------------------------------


def _read_pem(path: str | None, flag: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read ({exc.strerror}); check the path") from exc


def _channel(args: argparse.Namespace) -> Any:
    """Plaintext, or TLS when --tls-ca is given (mTLS with --tls-cert and --tls-key)."""
    import grpc

    if args.tls_ca is None:
        if args.tls_cert or args.tls_key:
            raise UsageError("--tls-cert and --tls-key need --tls-ca (the server's CA)")
        return grpc.insecure_channel(args.address)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("give --tls-cert and --tls-key together")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read_pem(args.tls_ca, "--tls-ca"),
        private_key=_read_pem(args.tls_key, "--tls-key"),
        certificate_chain=_read_pem(args.tls_cert, "--tls-cert"),
    )
    options = []
    if args.tls_server_name:
        options.append(("grpc.ssl_target_name_override", args.tls_server_name))
    return grpc.secure_channel(args.address, credentials, options=options)


def cmd_query(args: argparse.Namespace) -> int:
    import grpc

    from scaler._proto import externalscaler_pb2 as pb
    from scaler._proto import externalscaler_pb2_grpc as pb_grpc

    metadata = _meta(args.meta)
    ref = pb.ScaledObjectRef(namespace=args.namespace, name=args.name, scalerMetadata=metadata)
    with _channel(args) as channel:
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


# -- report -----------------------------------------------------------------------------------

REPORT_DAYS = 7  # default range: the 7 days before now


def _report_range(args: argparse.Namespace, now: int) -> tuple[int, int]:
    """[from, to): --to, else --from + --hours, else now; --from, else to - (--hours or 7d)."""
    given = _length(args, example=24)
    length = REPORT_DAYS * 86400 if given is None else given
    start = _time(args.start, "--from") if args.start else None
    if args.to:
        end = _time(args.to, "--to")
    elif start is not None and given is not None:
        end = start + length
    else:
        end = now
    if start is None:
        start = end - length
    return _ordered(start, end, " and defaults to the 7 days before now")


def _result_text(row: EventResult) -> str:
    if row.ready_at_start:
        text = "ready"
    elif row.late_seconds is not None:
        text = f"late by {format_duration(row.late_seconds)}"
    else:
        text = "not reached yet" if row.in_progress else "never reached"
    return f"{text} (in progress)" if row.in_progress else text


def _format_report(result: Report, query: str, origin: str) -> str:
    rows = [
        f"workload {result.workload}, {format_instant(result.start)} to "
        f"{format_instant(result.end)} (UTC)",
        f"history: {query} at {origin}",
        "",
    ]
    if not result.events:
        return "\n".join([*rows, "no events for this workload in range"])
    width = max(len("EVENT"), *(len(r.event) for r in result.events)) + 2
    rows.append(f"{'EVENT':<{width}}{'START (UTC)':<22}{'FLOOR':>6}  {'REACHED (UTC)':<22}"
                f"{'PEAK':>6}  RESULT")  # fmt: skip
    for r in result.events:
        reached = "never" if r.reached is None else format_instant(r.reached)
        peak = "-" if r.peak is None else f"{r.peak:g}"
        rows.append(f"{r.event:<{width}}{format_instant(r.start):<22}{r.floor:>6}  "
                    f"{reached:<22}{peak:>6}  {_result_text(r)}")  # fmt: skip
    count = len(result.events)
    short = sum(1 for r in result.events if not r.ready_at_start)
    rows.append("")
    if not short:
        rows.append(f"all {count} event{'s' if count != 1 else ''} ready at the start")
    else:
        rows.append(f"{short} of {count} events not ready at the start")
    return "\n".join(rows)


def cmd_report(args: argparse.Namespace) -> int:
    from scaler.history import DEFAULT_QUERY, render_query

    calendar, workload = _file_and_workload(args)
    now = int(time.time())
    start, end = _report_range(args, now)
    check_workload([calendar], workload, start)
    client = _prometheus(args)  # checks the URL before anything is asked
    peaks = _peaks(args, calendar, workload, start)  # floors of `like` events
    check_likes([calendar], workload, peaks, start, end)
    query = render_query(args.history_query or DEFAULT_QUERY, workload.namespace, workload.name)
    found = occasions([calendar], workload, start, end, now, peaks=peaks)

    async def fetch() -> list[EventResult]:
        async with client:
            results = []
            for o in found:
                ramp = await client.query_range(query, o.ramp_from, o.until, REPORT_STEP)
                during = None
                if o.grids_differ:
                    during = await client.query_range(query, o.start, o.until, REPORT_STEP)
                results.append(judge(o, ramp, during))
            return results

    result = Report(workload=workload.ref, start=start, end=end, events=tuple(asyncio.run(fetch())))
    if args.format == "json":  # the contract's shape exactly (SPEC 9)
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(_format_report(result, query, client.origin))
        history = derivations([calendar], workload, peaks, start)
        if history:  # floors of `like` events, as plan shows them
            print("\nsized from history:\n" + "\n".join(_history_lines(history)))
    return 0 if result.ok else 2


# -- serve ------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from scaler.sources import forkserver

    forkserver.start()  # before the server's own imports: the parser process starts meanwhile
    from scaler.app import ServeOptions, run

    calendars = list(args.calendar)
    options = ServeOptions(
        calendars=calendars,
        config_file=Path(args.config) if args.config else None,
        example=example_calendar(),
        host=args.listen_address,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        tls_client_ca=Path(args.tls_client_ca) if args.tls_client_ca else None,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        refresh=args.refresh,
        log_level=args.log_level,
        prometheus=args.prometheus,
        history_query=args.history_query,
        prometheus_ca=Path(args.prometheus_ca) if args.prometheus_ca else None,
    )
    return run(options)


# -- wiring -----------------------------------------------------------------------------------


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; give 0 to 65535")
    return int(text)


def _workload_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    for flag, metavar, default, what in (
        ("--namespace", "NS", "default", "the ScaledObject's namespace"),
        ("--name", "NAME", "workload", "the ScaledObject's name"),
    ):
        if required:  # a required flag has no default to show
            parser.add_argument(flag, required=True, metavar=metavar, help=what)
        else:
            parser.add_argument(flag, default=default, metavar=metavar,
                                help=f"{what} (default: {default})")  # fmt: skip
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                        help="trigger metadata, repeatable: --meta baseReplicas=4")  # fmt: skip


def _history_flags(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument("--prometheus", metavar="URL", required=required,
                        help="Prometheus API base for like events and report (Thanos, Mimir: "
                        "their Prometheus API path); headers from "
                        "CALENDAR_SCALER_PROMETHEUS_HEADER_*")  # fmt: skip
    parser.add_argument("--history-query", metavar="Q",
                        help="PromQL of a workload's replicas, with $namespace and $name "
                        "(default: kube-state-metrics' HPA current replicas)")  # fmt: skip
    parser.add_argument("--prometheus-ca", metavar="F", help="trust this CA (PEM) for Prometheus")


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
    serve.add_argument("--listen-address", default="[::]", metavar="ADDR",
                       help="address both ports listen on (default: %(default)s, every IPv4 "
                       "and IPv6 address; e.g. 127.0.0.1, or the pod IP)")  # fmt: skip
    serve.add_argument("--grpc-port", type=_port, default=9090, metavar="PORT",
                       help="KEDA's external scaler protocol (default: 9090)")  # fmt: skip
    serve.add_argument("--http-port", type=_port, default=8080, metavar="PORT",
                       help="metrics, health, status page (default: 8080)")  # fmt: skip
    serve.add_argument("--tls-cert", metavar="F")
    serve.add_argument("--tls-key", metavar="F")
    serve.add_argument("--tls-client-ca", metavar="F", help="require client certificates (mTLS)")
    serve.add_argument("--state-dir", metavar="DIR", help="keep last good remote calendars here")
    serve.add_argument("--refresh", type=_duration, default=60, metavar="DURATION",
                       help="how often URL sources are fetched (default: 60s)")  # fmt: skip
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    _history_flags(serve)
    serve.set_defaults(func=cmd_serve)

    validate = commands.add_parser("validate", help="check calendar files (YAML, JSON, .ics)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=cmd_validate)

    plan_cmd = commands.add_parser("plan", help="the replicas a workload gets over time")
    plan_cmd.add_argument("file", metavar="FILE")
    _workload_flags(plan_cmd, required=False)
    plan_cmd.add_argument(
        "--from", dest="start", metavar="TIME",
        help="start (calendar time format, UTC if no offset; default now)",
    )  # fmt: skip
    plan_cmd.add_argument("--to", metavar="TIME", help="end, exclusive")
    plan_cmd.add_argument("--hours", type=float, metavar="N",
                          help=f"length instead of --to (default {DEFAULT_HOURS})")  # fmt: skip
    plan_cmd.add_argument("--format", choices=["table", "json"], default="table")
    _history_flags(plan_cmd)
    plan_cmd.set_defaults(func=cmd_plan)

    sim = commands.add_parser(
        "simulate",
        help="will the replicas be ready at each event's start? (exit 2 if not)",
        description="Model KEDA, the HPA and pod start-up fed by the calendar, and report for "
        "each event the replicas ready at its start and the leadTime it would need. "
        "Exit status 2 when an event would start under-provisioned.",
    )
    sim.add_argument("file", metavar="FILE")
    _workload_flags(sim, required=False)
    sim.add_argument(
        "--from", dest="start", metavar="TIME",
        help="start (calendar time format, UTC if no offset; default now)",
    )  # fmt: skip
    sim.add_argument("--to", metavar="TIME", help="end, exclusive")
    sim.add_argument("--hours", type=float, metavar="N",
                     help=f"length instead of --to (default {DEFAULT_HOURS})")  # fmt: skip
    for flag, default, what in [
        ("--polling-interval", "30s", "KEDA pollingInterval (activation from 0)"),
        ("--cooldown-period", "5m", "KEDA cooldownPeriod (back to 0)"),
        ("--hpa-sync", "15s", "the HPA controller's sync period"),
        ("--pod-startup", "the podStartup metadata, else 60s", "pod created -> ready"),
        ("--min-replicas", "0", "KEDA minReplicaCount"),
        ("--max-replicas", "100", "KEDA maxReplicaCount"),
        ("--initial-replicas", "steady state", "replicas running when the simulation starts"),
        ("--tolerance", "0.1", "the HPA's tolerance"),
        ("--baseline", "0", "replicas the ScaledObject's other triggers ask for, constant"),
        ("--scale-up-policy", "pods=4,percent=100,period=15s",
         "behavior.scaleUp policies: pods=N, percent=N (each may take /PERIOD), period=D, "
         "select=max|min|disabled"),
        ("--scale-up-stabilization", "0s", "behavior.scaleUp.stabilizationWindowSeconds"),
        ("--scale-down-policy", "percent=100,period=15s", "behavior.scaleDown policies"),
        ("--scale-down-stabilization", "5m", "behavior.scaleDown.stabilizationWindowSeconds"),
        ("--node-startup", "0s", "a pending pod gets a node this long after it became pending"),
        ("--free-pods", "unlimited", "pods that fit on the nodes already there"),
        ("--headroom", "none", "add a headroom trigger with this headroomLead (placeholders)"),
    ]:  # fmt: skip
        sim.add_argument(flag, metavar="VALUE", help=f"{what} (default: {default})")
    sim.add_argument("--format", choices=["table", "json"], default="table")
    _history_flags(sim)
    sim.set_defaults(func=cmd_simulate)

    query = commands.add_parser("query", help="ask a running scaler as KEDA does")
    query.add_argument("--address", default="localhost:9090", metavar="HOST:PORT",
                       help="the scaler's gRPC address (default: %(default)s)")  # fmt: skip
    _workload_flags(query, required=True)
    query.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                       help="per call (default: %(default)g)")  # fmt: skip
    query.add_argument("--tls-ca", metavar="F", help="use TLS, trusting this CA (PEM)")
    query.add_argument("--tls-cert", metavar="F", help="client certificate for mTLS (PEM)")
    query.add_argument("--tls-key", metavar="F", help="client key for mTLS (PEM)")
    query.add_argument("--tls-server-name", metavar="NAME",
                       help="name the server certificate must carry, if not the host")  # fmt: skip
    query.set_defaults(func=cmd_query)

    report = commands.add_parser(
        "report",
        help="did we make it? each past event's floor against the replicas that ran (exit 2 if "
        "one was not ready)",
        description="For each event of the last 7 days (or --from/--to), read from Prometheus "
        "when the workload's replicas reached the floor the calendar asked, whether that was "
        "before the start, and the peak during the event. Exit status 2 when an event was not "
        "ready at its start.",
    )
    report.add_argument("file", metavar="FILE")
    _history_flags(report, required=True)
    _workload_flags(report, required=True)
    report.add_argument("--from", dest="start", metavar="TIME",
                        help="start (calendar time format, UTC if no offset; default: 7 days "
                        "before --to)")  # fmt: skip
    report.add_argument("--to", metavar="TIME", help="end, exclusive (default: now)")
    report.add_argument("--hours", type=float, metavar="N", help="length instead of 7 days")
    report.add_argument("--format", choices=["table", "json"], default="table")
    report.set_defaults(func=cmd_report)
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
