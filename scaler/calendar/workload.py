"""A workload as a ScaledObject describes it: trigger metadata parsed and checked.

Metadata syntax is checked here, once per distinct (namespace, name, metadata); whether the
calendar's events need a key the workload lacks is checked by evaluation, because it depends on
calendar content (GetMetricSpec must answer without it).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from scaler.calendar.model import MAX_REPLICAS, in_range
from scaler.calendar.timefmt import QUOTE_MAX, format_duration, parse_duration, quote
from scaler.errors import MetadataError

__all__ = [
    "DEFAULT_HEADROOM_LEAD",
    "DEFAULT_METRIC_NAME",
    "DURATION_MAX",
    "METADATA_MAX",
    "METRIC_NAME_MAX",
    "VALUE_MAX",
    "Workload",
    "check_size",
    "lookup",
    "parse_labels",
    "parse_metadata",
]

DEFAULT_METRIC_NAME = "sale-calendar"
DEFAULT_HEADROOM_LEAD = 600  # 10m: about two node start-ups of the cluster autoscaler
# Bounds, so that one ScaledObject never slows the scaler for the others (SPEC 4): a duration
# is how far the calendar is expanded around now (a 1000d lead took minutes), and everything
# KEDA sends is parsed and remembered per distinct metadata set.
DURATION_MAX = 31 * 86400
VALUE_MAX = 4096  # characters of one value
METADATA_MAX = 64 * 1024  # bytes (UTF-8) of all keys and values
_WHOLE = re.compile(r"\+?[0-9]{1,10}")  # int() reads `1_000` and other scripts' digits
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,10})?")
# headroomFor names a ScaledObject: an RFC 1123 label (namespace) / subdomain (name).
_HEADROOM_FOR = re.compile(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$"
)
# KEDA prefixes `s<index>-`; the HPA needs a valid metric name part: keep it DNS-label-like.
METRIC_NAME_MAX = 200  # characters
_METRIC_NAME = re.compile(rf"^[A-Za-z0-9]([A-Za-z0-9._-]{{0,{METRIC_NAME_MAX - 2}}}[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"
)


@dataclass(frozen=True, kw_only=True)
class Workload:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    calendars: tuple[str, ...] | None = None  # None: every configured calendar
    base_replicas: int | None = None  # needed by factor events
    capacity_per_replica: Decimal | None = None  # needed by load events; > 0
    load_share: Decimal = Decimal(1)
    lead_time: int = 0  # this workload's minimum, seconds
    ramp_up: int = 0
    ramp_down: int = 0
    pod_startup: int | None = None  # for lead-time recommendations in plan and simulate
    metric_name: str = DEFAULT_METRIC_NAME
    headroom_for: tuple[str, str] | None = None  # (namespace, name) this trigger makes room for
    headroom_lead: int = DEFAULT_HEADROOM_LEAD  # placeholders wanted this long before its ramp

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def served(self) -> Workload:
        """The workload whose value V this trigger's headroom is measured against (SPEC 10):
        the one `headroomFor` names, with this trigger's other metadata; itself otherwise."""
        if self.headroom_for is None:
            return self
        namespace, name = self.headroom_for
        return dataclasses.replace(self, namespace=namespace, name=name, headroom_for=None)

    @property
    def headroom_reach(self) -> int:
        """How long before the served workload's ramp this trigger's value can rise."""
        return 0 if self.headroom_for is None else self.headroom_lead


def parse_labels(text: str, *, key: str = "labels") -> dict[str, str]:
    """`k=v,k2=v2` -> dict. Empty text gives no labels."""
    labels: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise MetadataError(
                key,
                f"{key}: {quote(part)} is not a label pair; write k=v,k2=v2, e.g. tier=frontend",
            )
        labels[name] = value
    return labels


def lookup(metadata: Mapping[str, str], key: str) -> tuple[str, str]:
    """(the key as written, its value stripped) for `key` or, failing that, `<key>FromEnv`.

    KEDA resolves `<key>FromEnv: VAR` from the scale target's environment and passes the value
    under the name `<key>FromEnv` (an unset variable drops the key). The plain key wins when
    both are present. Absent: (key, "").
    """
    for written in (key, key + "FromEnv"):
        raw = metadata.get(written)
        if raw is not None:
            return written, raw.strip()
    return key, ""


def check_size(metadata: Mapping[str, str]) -> None:
    """Every value at most VALUE_MAX characters, and all of it at most METADATA_MAX bytes.

    Checked before anything else, so no parsing or remembering scales with what KEDA sends.
    """
    total = 0
    for key, value in metadata.items():
        if len(value) > VALUE_MAX:
            raise MetadataError(
                key,
                f"metadata key {quote(key)}: the value is {len(value):,} characters long, "
                f"more than {VALUE_MAX:,}; no key of this scaler needs that much",
            )
        total += len(key.encode()) + len(value.encode())
    if total > METADATA_MAX:
        largest = max(metadata, key=lambda k: len(k) + len(metadata[k]))
        raise MetadataError(
            largest,
            f"metadata is {total:,} bytes in all, more than {METADATA_MAX:,} (64 KiB); the "
            f"largest entry is {quote(largest)}: remove the keys this scaler does not read",
        )


def _decimal(metadata: Mapping[str, str], key: str, *, positive: bool) -> Decimal | None:
    key, raw = lookup(metadata, key)
    if raw == "":
        return None
    # Decimal() reads `1_000` and other scripts' digits too: only ASCII decimals get to it.
    value = Decimal(raw) if _DECIMAL.fullmatch(raw) else Decimal("NaN")
    bound = ("> 0" if positive else ">= 0") + " (below 1e16, at most 9 decimals)"
    if not in_range(value) or value < 0 or (positive and value == 0):
        raise MetadataError(
            key, f'{key}: {quote(raw)} is not a number {bound}; write e.g. {key}: "100"'
        )
    return value


def _duration(metadata: Mapping[str, str], key: str) -> int | None:
    key, raw = lookup(metadata, key)
    if raw == "":
        return None
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise MetadataError(key, f"{key}: {exc}") from exc
    if seconds > DURATION_MAX:
        raise MetadataError(
            key,
            f"{key}: {quote(raw)} is longer than {format_duration(DURATION_MAX)}, the most a "
            "workload's minimum may be; write a shorter duration, e.g. 1h",
        )
    return seconds


def parse_metadata(
    namespace: str,
    name: str,
    metadata: Mapping[str, str],
    *,
    known_calendars: set[str] | None = None,
) -> Workload:
    """Trigger metadata -> Workload, raising MetadataError naming the key and the fix.

    Keys the contract does not name are ignored: KEDA passes every key of the trigger.
    `known_calendars` (when given) is checked against the `calendars` key.
    """
    check_size(metadata)
    calendars: tuple[str, ...] | None = None
    key, raw_calendars = lookup(metadata, "calendars")
    if raw_calendars:
        calendars = tuple(dict.fromkeys(c.strip() for c in raw_calendars.split(",") if c.strip()))
        if known_calendars is not None:
            unknown = [c for c in calendars if c not in known_calendars]
            if unknown:
                listed = ", ".join(unknown)
                listed = listed if len(listed) <= QUOTE_MAX else quote(listed)
                configured = ", ".join(sorted(known_calendars)) or "none"
                raise MetadataError(
                    key,
                    f"{key}: {listed} not configured on this scaler; "
                    f"use one of: {configured} (or leave the key out to use all)",
                )

    base: int | None = None
    key, raw_base = lookup(metadata, "baseReplicas")
    if raw_base:
        if not _WHOLE.fullmatch(raw_base) or int(raw_base) > MAX_REPLICAS:
            raise MetadataError(
                key,
                f"{key}: {quote(raw_base)} is not a whole number from 0 to {MAX_REPLICAS}; "
                f'write e.g. {key}: "4"',
            )
        base = int(raw_base)

    key, metric_name = lookup(metadata, "metricName")
    metric_name = metric_name or DEFAULT_METRIC_NAME
    if not _METRIC_NAME.match(metric_name):
        raise MetadataError(
            key,
            f"{key}: {quote(metric_name)} is not valid; use letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit",
        )

    key, raw_labels = lookup(metadata, "labels")
    labels = parse_labels(raw_labels, key=key)
    for label in labels:
        if not _LABEL_KEY.match(label):
            raise MetadataError(key, f"{key}: {quote(label)} is not a valid label key")

    load_share = _decimal(metadata, "loadShare", positive=False)
    headroom_for, headroom_lead = _headroom(metadata)
    return Workload(
        namespace=namespace,
        name=name,
        labels=labels,
        calendars=calendars,
        base_replicas=base,
        capacity_per_replica=_decimal(metadata, "capacityPerReplica", positive=True),
        load_share=Decimal(1) if load_share is None else load_share,
        lead_time=_duration(metadata, "leadTime") or 0,
        ramp_up=_duration(metadata, "rampUp") or 0,
        ramp_down=_duration(metadata, "rampDown") or 0,
        pod_startup=_duration(metadata, "podStartup"),
        metric_name=metric_name,
        headroom_for=headroom_for,
        headroom_lead=headroom_lead,
    )


def _headroom(metadata: Mapping[str, str]) -> tuple[tuple[str, str] | None, int]:
    """`headroomFor` and `headroomLead` (SPEC sections 4 and 10), also as `<key>FromEnv`.

    `headroomLead` without `headroomFor` is an error rather than ignored: such a trigger would
    drive the placeholders with the workload's own floor, full size through the whole sale.
    """
    key, raw = lookup(metadata, "headroomFor")
    lead = _duration(metadata, "headroomLead")  # at most DURATION_MAX, like every duration
    if not raw:
        if lead is not None:
            lead_key, _ = lookup(metadata, "headroomLead")
            raise MetadataError(
                lead_key,
                f"{lead_key}: only means something with headroomFor; add headroomFor: NS/NAME "
                "(the workload the placeholders make room for), or remove it",
            )
        return None, DEFAULT_HEADROOM_LEAD
    found = _HEADROOM_FOR.match(raw)
    if found is None:
        raise MetadataError(
            key,
            f"{key}: {quote(raw)} is not NS/NAME; write the namespace and name of the "
            "ScaledObject the placeholders make room for, e.g. headroomFor: shop/checkout",
        )
    return (found.group(1), found.group(3)), DEFAULT_HEADROOM_LEAD if lead is None else lead
