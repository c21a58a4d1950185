"""Generated sale calendars for the benchmarks: deterministic, realistic, any size.

`generate(n)` writes a YAML calendar of `n` events (plus the bench's probe events) as a person
would: block style, a calendar zone with defaults, named exclusions, and a mix of

- one-off sales and product drops (~85%) spread from 60 days ago to a year ahead, 30 min to
  4 days long, scaled by replicas, factor or load, most of them aimed at some workloads by
  labels, namespace and name globs (some targets carry their own scale), a few in their own
  time zone, ~2% disabled;
- recurring time sales (~15%): daily, weekday, weekly, every 6 hours or monthly cron rules,
  bounded by `from`/`until` (a few weeks to a few months, spread over the year), some with
  `exclude` (dates, exclusion names, holidays:JP).

The same (n, seed, base) always gives the same text. The bench's workloads (see `WORKLOADS`)
declare baseReplicas and capacityPerReplica, so every event may concern them without an error;
the probe workloads live in namespace `probe`, which no generated event targets, and carry no
labels or keys, so only the probe events below change their value:

- `bench-reload-probe`: a constant `replicas: reload_value` for probe/reload-probe, in force from
  long before to long after the run: the reload and soak checks change `reload_value`;
- `bench-stream-<i>`: one-off windows for probe/stream-probe (StreamIsActive transitions).

A calendar file source refuses files over 5 MiB, ~30,000 events in this style: larger calendars
are written as several files of 10,000 (`write_calendars`), each its own `--calendar NAME=FILE`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "PER_FILE",
    "WORKLOADS",
    "generate",
    "write_calendars",
]

PER_FILE = 10_000  # events per file: ~1.6 MB, under the file source's 5 MiB limit
ZONE = "Asia/Tokyo"
_OFFSET = dt.timedelta(hours=9)  # Asia/Tokyo has no DST: local = UTC + 9 h

_NAMESPACES = ("shop", "shop-eu", "shop-us", "payments", "search", "catalog", "media", "ads")
_NAMES = ("checkout", "cart", "web", "api", "search-api", "recommend", "images", "gateway")
_TIERS = ("frontend", "backend", "edge", "batch")
_TEAMS = ("growth", "core", "platform", "mobile")
_ZONES = ("Europe/Berlin", "America/New_York", "Asia/Singapore")
_CRONS = (
    ("0 21 * * *", 70),  # nightly time sale
    ("30 12 * * 1-5", 10),  # weekday lunch sale
    ("0 10 * * 6", 10),  # Saturday morning drop
    ("0 */6 * * *", 5),  # every 6 hours
    ("0 0 1,15 * *", 5),  # pay-day sales
)
_KINDS = (("replicas", 50), ("factor", 30), ("load", 20))


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


# The bench's workloads: (namespace, name, metadata). All declare both keys a scale may need.
def _workloads(count: int = 64) -> list[tuple[str, str, dict[str, str]]]:
    rng = random.Random(99)
    found = []
    for i in range(count):
        ns = _NAMESPACES[i % len(_NAMESPACES)]
        name = f"{_NAMES[(i // len(_NAMESPACES)) % len(_NAMES)]}-{i:02d}"
        meta = {
            "scalerAddress": "calendar-scaler.keda:9090",
            "labels": f"tier={_TIERS[i % 4]},team={_TEAMS[(i // 4) % 4]}",
            "baseReplicas": str(rng.randint(2, 12)),
            "capacityPerReplica": str(rng.choice((250, 500, 1000, 1500))),
        }
        if i % 3 == 0:
            meta["loadShare"] = f"0.{rng.randint(1, 9)}"
        if i % 4 == 1:
            meta["leadTime"] = rng.choice(("20m", "30m", "1h"))
        if i % 5 == 2:
            meta["rampDown"] = "15m"
        if i % 7 == 3:
            meta["metricName"] = f"sales-{i}"
        found.append((ns, name, meta))
    return found


WORKLOADS = _workloads()
RELOAD_PROBE = ("probe", "reload-probe", {"scalerAddress": "calendar-scaler.keda:9090"})
STREAM_PROBE = ("probe", "stream-probe", {"scalerAddress": "calendar-scaler.keda:9090"})


def _local(instant: dt.datetime) -> str:
    return (instant + _OFFSET).strftime("%Y-%m-%dT%H:%M")


def _utc(instant: int) -> str:
    return dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scale(rng: random.Random, kind: str) -> str:
    if kind == "replicas":
        return f"{{replicas: {rng.randint(2, 80)}}}"
    if kind == "factor":
        return f"{{factor: {rng.choice(('1.5', '2', '2.5', '3', '4'))}}}"
    return f"{{load: {rng.choice((5000, 12000, 20000, 45000))}}}"


def _targets(rng: random.Random, lines: list[str]) -> None:
    lines.append("    targets:")
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        form = rng.randrange(5)
        if form == 0:
            lines.append(f"      - labels: {{tier: {rng.choice(_TIERS)}}}")
        elif form == 1:
            tier, team = rng.choice(_TIERS), rng.choice(_TEAMS)
            lines.append(f"      - labels: {{tier: {tier}, team: {team}}}")
        elif form == 2:
            lines.append(f"      - namespace: {rng.choice(_NAMESPACES)}")
        elif form == 3:
            lines.append(f'      - namespace: "{rng.choice(_NAMESPACES)[:4]}*"')
            lines.append(f'        name: "{rng.choice(_NAMES)}*"')
        else:
            lines.append(f'      - name: "{rng.choice(_NAMES)}-*"')
        if rng.random() < 0.2:
            lines.append(f"        scale: {{replicas: {rng.randint(5, 120)}}}")


def generate(
    n: int,
    *,
    seed: int = 7,
    base: dt.datetime | None = None,
    reload_value: int = 1,
    stream: Sequence[tuple[int, int]] = (),
    first: int = 0,
    probes: bool = True,
) -> str:
    """A calendar of `n` generated events (names numbered from `first`) plus the probe events.

    `base`: the instant the spread is centred on (default: today, 00:00 UTC); `stream`: the
    (start, end) epoch seconds of probe/stream-probe's windows.
    """
    if base is None:
        today = dt.datetime.now(dt.UTC).date()
        base = dt.datetime(today.year, today.month, today.day)
    base = base.replace(tzinfo=None)
    rng = random.Random(f"{seed}-{first}-{n}")
    lines = [
        f"# Generated by bench/gen_calendar.py: {n} events, seed {seed}, base {base:%Y-%m-%d}.",
        "version: 1",
        f"timezone: {ZONE}",
        "defaults:",
        "  leadTime: 15m",
        "  rampUp: 10m",
        "  rampDown: 10m",
        "  rampSteps: 5",
        "exclusions:",
        f"  year-end: [{base.year}-12-31, {base.year + 1}-01-01]",
        f"  maintenance: [{(base + dt.timedelta(days=9)):%Y-%m-%d}, "
        f"{(base + dt.timedelta(days=40)):%Y-%m-%d}]",
        "events:",
    ]
    for i in range(first, first + n):
        recurring = rng.random() < 0.15
        kind = _pick(rng, _KINDS)
        targeted = rng.random() < 0.65
        if not targeted and kind == "replicas":
            kind = rng.choice(("factor", "load"))  # "everyone gets N" is rare: keep it aimed
        if recurring:
            lines.append(f"  - name: time-sale-{i:06d}")
            lines.append(f'    schedule: "{_pick(rng, _CRONS)}"')
            lines.append(f"    duration: {rng.choice(('30m', '1h', '1h', '2h', '3h'))}")
            begin = base + dt.timedelta(days=rng.randint(-60, 300))
            lines.append(f"    from: {begin:%Y-%m-%d}")
            lines.append(f"    until: {(begin + dt.timedelta(days=rng.randint(14, 90))):%Y-%m-%d}")
            roll = rng.random()
            if roll < 0.25:
                lines.append("    exclude: [year-end, maintenance]")
            elif roll < 0.35:
                day = begin + dt.timedelta(days=rng.randint(1, 13))
                lines.append(f"    exclude: [{day:%Y-%m-%d}]")
            elif roll < 0.37:
                lines.append('    exclude: ["holidays:JP", year-end]')
        else:
            lines.append(f"  - name: sale-{i:06d}")
            start = base + dt.timedelta(minutes=rng.randrange(-60 * 1440, 365 * 1440, 15))
            if rng.random() < 0.05:
                zone = rng.choice(_ZONES)
                lines.append(f"    timezone: {zone}")
                lines.append(f"    start: {start:%Y-%m-%dT%H:%M}")
            else:
                lines.append(f"    start: {_local(start)}")
            if rng.random() < 0.5:
                length = rng.choice(("30m", "1h", "2h", "6h", "1d", "2d12h", "4d"))
                lines.append(f"    duration: {length}")
            else:
                end = start + dt.timedelta(hours=rng.randint(1, 72))
                lines.append(f"    end: {_local(end)}")
            if rng.random() < 0.1:
                lines.append(f"    leadTime: {rng.choice(('5m', '30m', '1h'))}")
            if rng.random() < 0.05:
                lines.append("    rampUp: 20m")
                lines.append("    rampSteps: 4")
            if rng.random() < 0.02:
                lines.append("    disabled: true")
        lines.append(f"    scale: {_scale(rng, kind)}")
        if targeted:
            _targets(rng, lines)
    if probes:
        lines += [
            "  - name: bench-reload-probe",
            f"    start: {_local(base - dt.timedelta(days=30))}",
            f"    end: {_local(base + dt.timedelta(days=400))}",
            "    leadTime: 0s",
            "    rampUp: 0s",
            "    rampDown: 0s",
            f"    scale: {{replicas: {reload_value}}}",
            "    targets:",
            "      - {namespace: probe, name: reload-probe}",
        ]
        for j, (opens, closes) in enumerate(stream):
            lines += [
                f"  - name: bench-stream-{j}",
                f"    start: {_utc(opens)}",
                f"    end: {_utc(closes)}",
                "    leadTime: 0s",
                "    rampUp: 0s",
                "    rampDown: 0s",
                "    scale: {replicas: 1}",
                "    targets:",
                "      - {namespace: probe, name: stream-probe}",
            ]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` at once (what an editor or a ConfigMap swap does), never half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_calendars(
    directory: Path, total: int, *, seed: int = 7, base: dt.datetime | None = None,
    reload_value: int = 1, stream: Sequence[tuple[int, int]] = (),
) -> list[Path]:  # fmt: skip
    """`total` events as files of at most PER_FILE events; the probes are in the first file."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, first in enumerate(range(0, max(total, 1), PER_FILE)):
        count = min(PER_FILE, total - first)
        path = directory / f"bench-{index}.yaml"
        write_atomic(path, generate(count, seed=seed, base=base, first=first, probes=index == 0,
                                    reload_value=reload_value, stream=stream))  # fmt: skip
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="file (or directory if > 1 file)")
    args = parser.parse_args(argv)
    if args.events <= PER_FILE:
        write_atomic(args.out, generate(args.events, seed=args.seed))
        print(args.out)
    else:
        for path in write_calendars(args.out, args.events, seed=args.seed):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
