"""An inline SVG step chart of a workload's planned replicas, with one lane per event.

Plain SVG text, styled by the page's CSS classes, so the status page needs no script, no
font and nothing from the network. Event names sit in lanes under the time axis rather than
on the curve: an hourly flash sale would otherwise write its name 48 times over the peaks.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Lane", "Span", "timeline_svg"]

PALETTE = ("#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d")

_W = 1160  # viewBox width; the page scales the chart to its container
_LEFT, _RIGHT, _TOP, _PLOT_H = 52, 18, 24, 150
_LANE_H = 24
_CHAR_W = 6.6  # average width of an 11px sans-serif character, to keep names inside the chart


@dataclass(frozen=True, kw_only=True)
class Span:
    start: int  # the event's value is > 0 from here (lead time and ramp up included)...
    end: int  # ...to here (ramp down included)
    core_start: int  # the occurrence itself, [start, end) as the calendar says
    core_end: int
    peak: int  # replicas the event asks of this workload


@dataclass(frozen=True, kw_only=True)
class Lane:
    name: str
    calendar: str
    spans: tuple[Span, ...]


def _hhmm(instant: int) -> str:
    return dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _y_ticks(top: int) -> tuple[int, list[int]]:
    """A round axis maximum >= top and 2-5 ticks from 0."""
    if top <= 0:
        return 1, [0, 1]
    for magnitude in (10**k for k in range(12)):
        for base in (1, 2, 5):
            step = base * magnitude
            if math.ceil(top / step) <= 4:
                axis = math.ceil(top / step) * step
                return axis, list(range(0, axis + 1, step))
    return top, [0, top]


def _x_step(length: int) -> int:
    for hours in (1, 2, 3, 6, 12):
        if length / (hours * 3600) <= 12:
            return hours * 3600
    return 86400 * max(1, math.ceil(length / (86400 * 12)))


def timeline_svg(
    *,
    label: str,
    points: Sequence[tuple[int, int]],
    start: int,
    end: int,
    lanes: Sequence[Lane] = (),
    hidden_lanes: int = 0,
) -> str:
    """`points`: (instant, replicas) change points, the first at `start`; `end` exclusive."""
    length = max(1, end - start)
    plot_w = _W - _LEFT - _RIGHT
    top_value = max((v for _, v in points), default=0)
    axis_max, y_ticks = _y_ticks(top_value)
    axis_y = _TOP + _PLOT_H
    lanes_y = axis_y + 44
    height = lanes_y + len(lanes) * _LANE_H + (18 if hidden_lanes else 6)

    def x(t: int) -> float:
        return _LEFT + (min(max(t, start), end) - start) / length * plot_w

    def y(v: int) -> float:
        return _TOP + _PLOT_H - v / axis_max * _PLOT_H

    out: list[str] = [
        f'<svg class="chart" viewBox="0 0 {_W} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    # Grid and y axis.
    for tick in y_ticks:
        ty = _num(y(tick))
        out.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{ty}" y2="{ty}"/>')
        out.append(f'<text class="ytick" x="{_LEFT - 8}" y="{_num(y(tick) + 4)}">{tick}</text>')
    # X axis: ticks on round UTC hours, the date under each midnight.
    step = _x_step(length)
    first = -(-start // step) * step
    for tick in range(first, end + 1, step):
        tx = _num(x(tick))
        when = dt.datetime.fromtimestamp(tick, dt.UTC)
        out.append(f'<line class="grid" x1="{tx}" x2="{tx}" y1="{_TOP}" y2="{axis_y}"/>')
        out.append(f'<line class="axis" x1="{tx}" x2="{tx}" y1="{axis_y}" y2="{axis_y + 5}"/>')
        out.append(f'<text class="xtick" x="{tx}" y="{axis_y + 18}">{when:%H:%M}</text>')
        if when.hour == 0 and when.minute == 0:
            out.append(f'<text class="xdate" x="{tx}" y="{axis_y + 32}">{when:%a %d %b}</text>')
    out.append(f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{axis_y}" y2="{axis_y}"/>')
    out.append(f'<text class="xunit" x="{_W - _RIGHT}" y="{axis_y + 32}">UTC</text>')

    # The step curve and the area under it.
    ordered = sorted(points)
    if ordered:
        path = [f"M{_num(x(start))},{_num(y(ordered[0][1]))}"]
        for at, value in ordered[1:]:
            path.append(f"H{_num(x(at))}V{_num(y(value))}")
        path.append(f"H{_num(x(end))}")
        line = "".join(path)
        out.append(f'<path class="area" d="{line}V{_num(y(0))}H{_num(x(start))}Z"/>')
        out.append(f'<path class="step" d="{line}"/>')
        # Value labels on plateaus wide enough to read them (not on each ramp step).
        last_x = -100.0
        for i, (at, value) in enumerate(ordered):
            lx = x(at)
            until = ordered[i + 1][0] if i + 1 < len(ordered) else end
            if value > 0 and x(until) - lx >= 14 and lx - last_x > 28 and lx < _W - _RIGHT - 12:
                vx, vy = _num(lx + 3), _num(y(value) - 5)
                out.append(f'<text class="vlabel" x="{vx}" y="{vy}">{value}</text>')
                last_x = lx
    if top_value == 0:
        out.append(
            f'<text class="empty" x="{_num(_LEFT + plot_w / 2)}" y="{_num(_TOP + _PLOT_H / 2)}">'
            "no event raises this workload in this window</text>"
        )
    out.append(
        f'<line class="now" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP - 10}" y2="{axis_y}"/>'
        f'<text class="nowlabel" x="{_LEFT + 4}" y="{_TOP - 12}">now</text>'
    )

    # Lanes: one per event, its name where it first shows, bars for each occurrence.
    for i, lane in enumerate(lanes):
        color = PALETTE[i % len(PALETTE)]
        ly = lanes_y + i * _LANE_H
        out.append(f'<g class="lane" data-event="{escape(lane.name)}">')
        if i % 2 == 0:
            out.append(
                f'<rect class="laneband" x="{_LEFT}" y="{ly - 2}" width="{plot_w}" '
                f'height="{_LANE_H}"/>'
            )
        for span in lane.spans:
            sx, ex = x(span.start), x(span.end)
            cx, cex = x(span.core_start), x(span.core_end)
            tip = escape(
                f"{lane.name} ({lane.calendar}): {_hhmm(span.core_start)} to "
                f"{_hhmm(span.core_end)} UTC, {span.peak} replicas; raised from "
                f"{_hhmm(span.start)} to {_hhmm(span.end)}"
            )
            out.append(
                f'<rect class="ramp" x="{_num(sx)}" y="{ly + 12}" '
                f'width="{_num(max(ex - sx, 1.5))}" height="8" rx="2" fill="{color}">'
                f"<title>{tip}</title></rect>"
            )
            if cex > cx:
                out.append(
                    f'<rect class="core" x="{_num(cx)}" y="{ly + 12}" '
                    f'width="{_num(max(cex - cx, 1.5))}" height="8" rx="2" fill="{color}">'
                    f"<title>{tip}</title></rect>"
                )
        first_x = min((x(s.start) for s in lane.spans), default=float(_LEFT))
        text_w = len(lane.name) * _CHAR_W + 60
        name_x = min(max(first_x, _LEFT + 2.0), _W - _RIGHT - text_w)
        peak = max((s.peak for s in lane.spans), default=0)
        out.append(
            f'<text class="lanename" x="{_num(name_x)}" y="{ly + 9}" fill="{color}">'
            f'{escape(lane.name)}<tspan class="lanepeak"> · {peak} replicas</tspan></text>'
        )
        out.append("</g>")
    if hidden_lanes:
        more = f"+ {hidden_lanes} more event{'s' if hidden_lanes != 1 else ''} (see /api/plan)"
        out.append(
            f'<text class="lanemore" x="{_LEFT + 2}" y="{lanes_y + len(lanes) * _LANE_H + 10}">'
            f"{escape(more)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
