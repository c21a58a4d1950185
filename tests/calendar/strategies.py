"""Builders and hypothesis strategies for the calendar core's tests.

Events are built straight from the model, so evaluation tests read as the contract's
arithmetic (S, E, L, R, Q, K, D in whole seconds); parsing has its own tests.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal

from hypothesis import strategies as st

from scaler.calendar.evaluation import Plan
from scaler.calendar.model import Calendar, Event, Once, Scale, Target, Timing
from scaler.calendar.parsing import parse_yaml_calendar
from scaler.calendar.workload import Workload

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z: any instant will do, this one is far from the epoch
WEB = Workload(namespace="shop", name="web")


def parse(text: str, *, origin: str = "sales.yaml") -> Calendar:
    """A YAML or JSON calendar from an indented literal."""
    return parse_yaml_calendar(textwrap.dedent(text).lstrip("\n"), name="sales", origin=origin)


def replicas(n: int) -> Scale:
    return Scale(kind="replicas", amount=Decimal(n))


def factor(text: str) -> Scale:
    return Scale(kind="factor", amount=Decimal(text))


def load(text: str) -> Scale:
    return Scale(kind="load", amount=Decimal(text))


def event(
    name: str = "sale",
    *,
    start: int = T0,
    end: int = T0 + 3600,
    scale: Scale | None = None,
    lead: int = 0,
    up: int = 0,
    down: int = 0,
    steps: int = 5,
    targets: tuple[Target, ...] = (),
    disabled: bool = False,
) -> Event:
    return Event(
        name=name,
        line=1,
        scale=replicas(10) if scale is None else scale,
        targets=targets,
        timing=Timing(lead_time=lead, ramp_up=up, ramp_down=down, ramp_steps=steps),
        schedule=Once(start, end),
        disabled=disabled,
    )


def calendar(*events: Event, name: str = "sales") -> Calendar:
    return Calendar(name=name, origin=f"{name}.yaml", events=events)


def plan_value(p: Plan, instant: int) -> int:
    """The value a plan gives at an instant inside its range (last point at or before it)."""
    value = 0
    for point in p.points:
        if point.at > instant:
            break
        value = point.value
    return value


def boundaries(e: Event, workload: Workload) -> set[int]:
    """Every instant where an occurrence of `e` may change value, from SPEC 3 directly."""
    assert isinstance(e.schedule, Once)
    s, end = e.schedule.start, e.schedule.end
    t = e.timing
    lead = max(t.lead_time, workload.lead_time)
    up = max(t.ramp_up, workload.ramp_up)
    down = max(t.ramp_down, workload.ramp_down)
    k = t.ramp_steps
    found = {s - lead, end, end + down}
    found |= {s - lead - up + (i - 1) * up // k for i in range(1, k + 1)}
    found |= {end + j * down // k for j in range(k)}
    return found


# -- strategies ------------------------------------------------------------------------------

timings = st.builds(
    Timing,
    lead_time=st.integers(0, 300),
    ramp_up=st.integers(0, 300),
    ramp_down=st.integers(0, 300),
    ramp_steps=st.integers(1, 8),
)

workloads = st.builds(
    Workload,
    namespace=st.just("shop"),
    name=st.just("web"),
    base_replicas=st.integers(0, 20),
    lead_time=st.integers(0, 120),
    ramp_up=st.integers(0, 120),
    ramp_down=st.integers(0, 120),
)

scales = st.one_of(
    st.integers(0, 40).map(replicas),
    st.sampled_from(["0.5", "1", "1.1", "2.75", "3"]).map(factor),
)


@st.composite
def one_off_events(draw: st.DrawFn, name: str = "sale") -> Event:
    start = T0 + draw(st.integers(0, 2000))
    timing = draw(timings)
    return Event(
        name=name,
        line=1,
        scale=draw(scales),
        timing=timing,
        schedule=Once(start, start + draw(st.integers(1, 1500))),
    )


@st.composite
def calendars(draw: st.DrawFn, max_events: int = 4) -> Calendar:
    count = draw(st.integers(1, max_events))
    return calendar(*(draw(one_off_events(name=f"e{i}")) for i in range(count)))
