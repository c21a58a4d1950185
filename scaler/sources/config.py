"""Which calendars to serve: `--calendar` flags, environment variables and a config file.

Each of the three layers may name calendars; for the same name the higher layer wins, highest
first: `--calendar NAME=...`, `CALENDAR_SCALER_CALENDAR_<NAME>=...`, the config file. A higher
layer replaces only the location (`source`): `timezone` and `caBundle`, which only the config
file can set, stay, so a deployment can point a calendar elsewhere without repeating them.

Request headers for URL sources come from `CALENDAR_SCALER_HEADER_<NAME>_<HEADER>` and are
resolved here, so that the environment is read in one place. Their values are secrets: they are
kept out of every repr and message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from scaler.calendar.model import Scale, Timing
from scaler.calendar.timefmt import parse_duration, parse_zone
from scaler.errors import UsageError
from scaler.sources.decoding import IcalOptions
from scaler.sources.urls import redact

__all__ = ["CALENDAR_ENV_PREFIX", "HEADER_ENV_PREFIX", "SourceSpec", "load_specs"]

CALENDAR_ENV_PREFIX = "CALENDAR_SCALER_CALENDAR_"
HEADER_ENV_PREFIX = "CALENDAR_SCALER_HEADER_"
NAME = re.compile(r"^[a-z0-9-]{1,63}$")
_FILE_KEYS = {"source", "timezone", "caBundle", "defaults", "scale"}
_TEXT_KEYS = {"source", "timezone", "caBundle"}
_TIMING_KEYS = {"leadTime": "lead_time", "rampUp": "ramp_up", "rampDown": "ramp_down"}
_SCALE_KINDS = ("replicas", "factor", "load")
_EXAMPLE = "--calendar sales=/etc/calendars/sales.yaml"

log = logging.getLogger("scaler.sources")


@dataclass(frozen=True, kw_only=True, repr=False)
class SourceSpec:
    name: str  # [a-z0-9-]{1,63}, what trigger metadata `calendars` lists
    location: str  # absolute file path, or the URL as given: may hold credentials, never show it
    kind: Literal["file", "url"]
    timezone: str | None = None  # default zone for iCalendar dates and floating times; None: UTC
    defaults: Timing | None = None  # iCalendar only: timing a VEVENT does not set
    scale: Scale | None = None  # iCalendar only: for VEVENTs that set none (else not a sale)
    ca_bundle: Path | None = None  # PEM file of CAs to trust instead of the system's (URLs only)
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # secret values
    defined_by: str = ""  # where the location came from, for messages: a flag, variable or file

    @property
    def origin(self) -> str:
        """The location as it may be shown: a path, or the URL without credentials."""
        return self.location if self.kind == "file" else redact(self.location)

    @property
    def ical(self) -> IcalOptions:
        return IcalOptions(zone=self.timezone, defaults=self.defaults, scale=self.scale)

    def __repr__(self) -> str:  # location and header values stay out of logs and tracebacks
        headers = [k for k, _ in self.headers]
        return (
            f"SourceSpec(name={self.name!r}, kind={self.kind!r}, origin={self.origin!r}, "
            f"timezone={self.timezone!r}, defaults={self.defaults!r}, scale={self.scale!r}, "
            f"ca_bundle={self.ca_bundle!r}, headers={headers!r})"
        )


@dataclass
class _Entry:
    location: str  # a URL, or a path made absolute where it was read
    defined_by: str
    timezone: str | None = None
    ca_bundle: Path | None = None
    defaults: Timing | None = None
    scale: Scale | None = None


def _is_url(location: str) -> bool:
    return "://" in location and not location.lower().startswith("file://")


def _absolute(raw: str, base: Path) -> str:
    """A path (or file:// URL) made absolute against `base`; symlinks stay for the watch."""
    if raw.lower().startswith("file://"):
        raw = urlsplit(raw).path
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else base / path)


def _check_name(name: str, where: str, fix: str) -> str:
    if not NAME.match(name):
        raise UsageError(
            f"{where}: calendar name {name!r} must be 1-63 characters of a-z, 0-9 and '-'; {fix}"
        )
    return name


def _from_cli(pairs: list[str]) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for pair in pairs:
        name, eq, location = pair.partition("=")
        name, location = name.strip(), location.strip()
        if not eq or not name or not location:
            raise UsageError(
                f"--calendar {pair!r}: give NAME=PATH_OR_URL, e.g. {_EXAMPLE} or "
                "--calendar sales=https://example.com/sales.ics"
            )
        _check_name(name, f"--calendar {pair}", "e.g. --calendar black-friday=...")
        if name in entries:
            raise UsageError(f"--calendar {name}=... is given twice; give each name once")
        if not _is_url(location):
            location = _absolute(location, Path.cwd())
        entries[name] = _Entry(location=location, defined_by=f"--calendar {name}")
    return entries


def _from_environ(environ: Mapping[str, str]) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for var in sorted(environ):
        if not var.startswith(CALENDAR_ENV_PREFIX):
            continue
        name = var[len(CALENDAR_ENV_PREFIX) :].lower().replace("_", "-")
        _check_name(name, var, f"name the variable like {CALENDAR_ENV_PREFIX}BLACK_FRIDAY")
        location = environ[var].strip()
        if not location:
            raise UsageError(
                f"{var} is empty; set it to a file path or an http(s) URL, or unset it"
            )
        if name in entries:
            raise UsageError(
                f"{var} and {entries[name].defined_by} both name calendar {name!r}; keep one"
            )
        if not _is_url(location):
            location = _absolute(location, Path.cwd())
        entries[name] = _Entry(location=location, defined_by=var)
    return entries


def _from_file(path: Path) -> dict[str, _Entry]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"config file {path}: cannot read it ({exc.strerror or exc})") from exc
    try:
        root: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path}: not valid YAML: {exc}") from exc
    shape = "calendars: {sales: {source: /etc/calendars/sales.yaml}}"
    if root is None:
        return {}
    if not isinstance(root, dict) or set(root) - {"calendars"}:
        raise UsageError(f"config file {path}: the only top-level key is calendars, e.g. {shape}")
    calendars = root.get("calendars") or {}
    if not isinstance(calendars, dict):
        raise UsageError(f"config file {path}: calendars must be a mapping, e.g. {shape}")
    entries: dict[str, _Entry] = {}
    for name, item in calendars.items():
        where = f"config file {path}: calendars.{name}"
        _check_name(str(name), where, "rename the key")
        if isinstance(item, str):
            item = {"source": item}
        if not isinstance(item, dict):
            raise UsageError(f"{where}: give a URL or path, or a mapping with source, e.g. {shape}")
        unknown = sorted(set(item) - _FILE_KEYS)
        if unknown:
            raise UsageError(
                f"{where}: unknown key {unknown[0]!r}; use {', '.join(sorted(_FILE_KEYS))}"
            )
        for key in _TEXT_KEYS & set(item):
            if not isinstance(item[key], str) or not item[key].strip():
                raise UsageError(f"{where}.{key} must be non-empty text")
        if "source" not in item:
            raise UsageError(f"{where}: source is missing; give a file path or an http(s) URL")
        location = item["source"].strip()
        ca_bundle = item.get("caBundle")
        entries[str(name)] = _Entry(
            location=location if _is_url(location) else _absolute(location, path.parent),
            defined_by=f"config file {path}",
            timezone=item.get("timezone"),
            ca_bundle=Path(_absolute(ca_bundle, path.parent)) if ca_bundle else None,
            defaults=_timing(item["defaults"], f"{where}.defaults") if "defaults" in item else None,
            scale=_scale(item["scale"], f"{where}.scale") if "scale" in item else None,
        )
    return entries


def _timing(node: Any, where: str) -> Timing:
    example = "e.g. defaults: {leadTime: 15m, rampUp: 10m, rampDown: 0s, rampSteps: 5}"
    if not isinstance(node, dict):
        raise UsageError(f"{where} must be a mapping, {example}")
    unknown = sorted(set(node) - {*_TIMING_KEYS, "rampSteps"})
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; {example}")
    values: dict[str, int] = {}
    for key, attr in _TIMING_KEYS.items():
        if key in node:
            try:
                values[attr] = parse_duration(str(node[key]))
            except ValueError as exc:
                raise UsageError(f"{where}.{key}: {exc}") from exc
    if "rampSteps" in node:
        steps = node["rampSteps"]
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise UsageError(f"{where}.rampSteps {steps!r} must be a whole number >= 1")
        values["ramp_steps"] = steps
    return Timing(**values)


def _scale(node: Any, where: str) -> Scale:
    example = "e.g. scale: {replicas: 10}, {factor: 2} or {load: 20000}"
    kinds = [k for k in _SCALE_KINDS if isinstance(node, dict) and k in node]
    if not isinstance(node, dict) or len(kinds) != 1 or len(node) != 1:
        raise UsageError(f"{where} needs exactly one of replicas, factor, load; {example}")
    kind = kinds[0]
    value = node[kind]
    try:
        amount = Decimal(str(value))  # as written: 1.1 stays 1.1
    except InvalidOperation:
        amount = Decimal("NaN")
    whole = isinstance(value, int) and not isinstance(value, bool)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not amount.is_finite()
        or amount < 0
        or (kind == "replicas" and not whole)
    ):
        what = "a whole number" if kind == "replicas" else "a finite number"
        raise UsageError(f"{where}.{kind} {value!r} must be {what} >= 0; {example}")
    return Scale(kind=kind, amount=amount)  # type: ignore[arg-type]


def _headers(names: list[str], environ: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Header variables by calendar; the longest matching name wins (`sales-eu` over `sales`)."""
    prefixes = sorted(
        ((f"{HEADER_ENV_PREFIX}{n.upper().replace('-', '_')}_", n) for n in names),
        key=lambda p: -len(p[0]),
    )
    found: dict[str, list[tuple[str, str]]] = {n: [] for n in names}
    for var in sorted(environ):
        if not var.startswith(HEADER_ENV_PREFIX):
            continue
        for prefix, name in prefixes:
            header = var[len(prefix) :]
            if var.startswith(prefix) and header:
                found[name].append((header.replace("_", "-").title(), environ[var]))
                break
        else:  # the value is a secret: name the variable only
            log.warning(
                "%s matches no configured calendar (%s); it is ignored",
                var,
                ", ".join(names) or "none",
                extra={"variable": var},
            )
    return found


def _spec(name: str, entry: _Entry, headers: list[tuple[str, str]]) -> SourceSpec:
    location = entry.location
    scheme = urlsplit(location).scheme.lower() if "://" in location else ""
    kind: Literal["file", "url"]
    if scheme in ("http", "https"):
        kind = "url"
        if not urlsplit(location).hostname:
            raise UsageError(
                f"{entry.defined_by}: {redact(location)} has no host; "
                "write e.g. https://calendars.example.com/sales.yaml"
            )
    elif scheme in ("", "file"):
        kind = "file"
    else:
        raise UsageError(
            f"{entry.defined_by}: calendar {name!r}: {scheme}:// is not supported; give a file "
            "path or an http(s) URL"
        )
    if entry.timezone is not None:
        try:
            parse_zone(entry.timezone)
        except ValueError as exc:
            raise UsageError(f"{entry.defined_by}: calendars.{name}.timezone: {exc}") from exc
    ca_bundle = None
    if entry.ca_bundle is not None:
        if kind != "url":
            raise UsageError(
                f"calendar {name!r}: caBundle applies to https:// sources, but the source "
                f"({entry.defined_by}) is a file; remove caBundle"
            )
        ca_bundle = entry.ca_bundle
        if not ca_bundle.is_file():
            raise UsageError(
                f"calendar {name!r}: caBundle {ca_bundle} is not a file; give a PEM file of "
                "CA certificates"
            )
    if headers and kind == "file":
        log.warning(
            "calendar %s is a file: its %s* variables are ignored",
            name,
            f"{HEADER_ENV_PREFIX}{name.upper().replace('-', '_')}_",
            extra={"calendar": name},
        )
        headers = []
    return SourceSpec(
        name=name,
        location=location,
        kind=kind,
        timezone=entry.timezone,
        defaults=entry.defaults,
        scale=entry.scale,
        ca_bundle=ca_bundle,
        headers=tuple(headers),
        defined_by=entry.defined_by,
    )


def load_specs(
    cli_pairs: list[str], environ: Mapping[str, str], config_file: Path | None
) -> list[SourceSpec]:
    """Every configured calendar, sorted by name; UsageError says what to fix."""
    layers = [
        _from_file(config_file) if config_file is not None else {},
        _from_environ(environ),
        _from_cli(cli_pairs),
    ]
    merged: dict[str, _Entry] = {}
    for layer in layers:  # lowest first: each later layer overrides the location
        for name, entry in layer.items():
            below = merged.get(name)
            if below is not None:
                log.info(
                    "calendar %s: %s overrides the source from %s",
                    name,
                    entry.defined_by,
                    below.defined_by,
                    extra={"calendar": name},
                )
                entry.timezone = entry.timezone or below.timezone
                entry.ca_bundle = entry.ca_bundle or below.ca_bundle
                entry.defaults = entry.defaults or below.defaults
                entry.scale = entry.scale or below.scale
            merged[name] = entry
    headers = _headers(sorted(merged), environ)
    return [_spec(name, merged[name], headers[name]) for name in sorted(merged)]
