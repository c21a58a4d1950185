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
from decimal import Decimal, InvalidOperation

from scaler.calendar.model import MAX_REPLICAS, in_range
from scaler.calendar.timefmt import parse_duration
from scaler.errors import MetadataError

__all__ = [
    "DEFAULT_HEADROOM_LEAD",
    "DEFAULT_METRIC_NAME",
    "MAX_HEADROOM_LEAD",
    "Workload",
    "parse_labels",
    "parse_metadata",
]

DEFAULT_METRIC_NAME = "sale-calendar"
DEFAULT_HEADROOM_LEAD = 600  # 10m: about two node start-ups of the cluster autoscaler
MAX_HEADROOM_LEAD = 31 * 86400
# headroomFor names a ScaledObject: an RFC 1123 label (namespace) / subdomain (name).
_HEADROOM_FOR = re.compile(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$"
)
# KEDA prefixes `s<index>-`; the HPA needs a valid metric name part: keep it DNS-label-like.
_METRIC_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$")
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
                key, f"{key}: {part!r} is not a label pair; write k=v,k2=v2, e.g. tier=frontend"
            )
        labels[name] = value
    return labels


def _decimal(metadata: Mapping[str, str], key: str, *, positive: bool) -> Decimal | None:
    raw = metadata.get(key)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    bound = ("> 0" if positive else ">= 0") + " (below 1e16, at most 9 decimals)"
    if not in_range(value) or value < 0 or (positive and value == 0):
        raise MetadataError(key, f'{key}: {raw!r} is not a number {bound}; write e.g. {key}: "100"')
    return value


def _duration(metadata: Mapping[str, str], key: str) -> int | None:
    raw = metadata.get(key)
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise MetadataError(key, f"{key}: {exc}") from exc


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
    calendars: tuple[str, ...] | None = None
    raw_calendars = metadata.get("calendars", "").strip()
    if raw_calendars:
        calendars = tuple(dict.fromkeys(c.strip() for c in raw_calendars.split(",") if c.strip()))
        if known_calendars is not None:
            unknown = [c for c in calendars if c not in known_calendars]
            if unknown:
                configured = ", ".join(sorted(known_calendars)) or "none"
                raise MetadataError(
                    "calendars",
                    f"calendars: {', '.join(unknown)} not configured on this scaler; "
                    f"use one of: {configured} (or leave the key out to use all)",
                )

    base: int | None = None
    raw_base = metadata.get("baseReplicas", "").strip()
    if raw_base:
        if not re.fullmatch(r"\+?\d+", raw_base) or int(raw_base) > MAX_REPLICAS:
            raise MetadataError(
                "baseReplicas",
                f"baseReplicas: {raw_base!r} is not a whole number from 0 to {MAX_REPLICAS}; "
                'write e.g. baseReplicas: "4"',
            )
        base = int(raw_base)

    metric_name = metadata.get("metricName", "").strip() or DEFAULT_METRIC_NAME
    if not _METRIC_NAME.match(metric_name):
        raise MetadataError(
            "metricName",
            f"metricName: {metric_name!r} is not valid; use letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit",
        )

    labels = parse_labels(metadata.get("labels", ""))
    for label in labels:
        if not _LABEL_KEY.match(label):
            raise MetadataError("labels", f"labels: {label!r} is not a valid label key")

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
    """`headroomFor` and `headroomLead` (SPEC sections 4 and 10).

    `headroomLead` without `headroomFor` is an error rather than ignored: such a trigger would
    drive the placeholders with the workload's own floor, full size through the whole sale.
    """
    raw = metadata.get("headroomFor", "").strip()
    lead = _duration(metadata, "headroomLead")
    if not raw:
        if lead is not None:
            raise MetadataError(
                "headroomLead",
                "headroomLead: only means something with headroomFor; add headroomFor: NS/NAME "
                "(the workload the placeholders make room for), or remove headroomLead",
            )
        return None, DEFAULT_HEADROOM_LEAD
    found = _HEADROOM_FOR.match(raw)
    if found is None:
        raise MetadataError(
            "headroomFor",
            f"headroomFor: {raw[:100]!r} is not NS/NAME; write the namespace and name of the "
            "ScaledObject the placeholders make room for, e.g. headroomFor: shop/checkout",
        )
    if lead is not None and lead > MAX_HEADROOM_LEAD:
        raise MetadataError(
            "headroomLead",
            f"headroomLead: {metadata['headroomLead'].strip()[:100]!r} is longer than 31d; "
            'write at most 31d, e.g. headroomLead: "10m"',
        )
    return (found.group(1), found.group(3)), DEFAULT_HEADROOM_LEAD if lead is None else lead
