"""Which calendars to serve: flags, environment, config file; errors that say how to fix."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from scaler.calendar.model import Scale, Timing
from scaler.errors import UsageError
from scaler.sources.config import SourceSpec, load_specs


def by_name(specs: list[SourceSpec]) -> dict[str, SourceSpec]:
    return {s.name: s for s in specs}


def test_cli_pair_gives_a_file_source_with_an_absolute_path(tmp_path: Path) -> None:
    specs = load_specs([f"sales={tmp_path}/sales.yaml"], {}, None)

    assert [("sales", str(tmp_path / "sales.yaml"), "file")] == [
        (s.name, s.location, s.kind) for s in specs
    ]


def test_relative_cli_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    (spec,) = load_specs(["sales=cal/sales.yaml"], {}, None)

    assert str(tmp_path / "cal" / "sales.yaml") == spec.location


def test_https_location_is_a_url_source() -> None:
    (spec,) = load_specs(["sales=https://calendars.example.com/sales.ics"], {}, None)

    assert (spec.kind, spec.location) == ("url", "https://calendars.example.com/sales.ics")


def test_environment_variable_names_a_calendar() -> None:
    environ = {"CALENDAR_SCALER_CALENDAR_BLACK_FRIDAY": "https://example.com/bf.yaml"}

    (spec,) = load_specs([], environ, None)

    assert (spec.name, spec.kind) == ("black-friday", "url")


def test_config_file_entries_with_options_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not checked here")
    config = tmp_path / "scaler.yaml"
    config.write_text(
        "calendars:\n"
        "  sales: {source: https://example.com/sales.ics, timezone: Asia/Tokyo, caBundle: ca.pem}\n"
        "  drops: calendars/drops.yaml\n"
    )

    specs = by_name(load_specs([], {}, config))

    assert ("Asia/Tokyo", tmp_path / "ca.pem") == (
        specs["sales"].timezone,
        specs["sales"].ca_bundle,
    )
    assert str(tmp_path / "calendars" / "drops.yaml") == specs["drops"].location


def test_cli_overrides_environment_overrides_file_and_keeps_file_options(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "scaler.yaml"
    config.write_text(
        "calendars:\n  sales: {source: https://a.example/s.ics, timezone: Asia/Tokyo}\n"
        "  only-file: https://c.example/o.yaml\n"
    )
    environ = {
        "CALENDAR_SCALER_CALENDAR_SALES": "https://b.example/s.ics",
        "CALENDAR_SCALER_CALENDAR_ONLY_ENV": "https://d.example/e.yaml",
    }
    caplog.set_level(logging.INFO, logger="scaler.sources")

    specs = by_name(load_specs(["sales=https://cli.example/s.ics"], environ, config))

    assert specs["sales"].location == "https://cli.example/s.ics"
    assert specs["sales"].timezone == "Asia/Tokyo"
    assert sorted(specs) == ["only-env", "only-file", "sales"]
    assert specs["sales"].defined_by == "--calendar sales"
    assert any("overrides" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("pairs", "environ", "match"),
    [
        pytest.param(["sales"], {}, "give NAME=PATH_OR_URL", id="no-equals"),
        pytest.param(["sales="], {}, "give NAME=PATH_OR_URL", id="empty-location"),
        pytest.param(["Sales=/x.yaml"], {}, "must be 1-63 characters", id="upper-case-name"),
        pytest.param(["a" * 64 + "=/x.yaml"], {}, "must be 1-63 characters", id="too-long"),
        pytest.param(["s=/a.yaml", "s=/b.yaml"], {}, "given twice", id="duplicate-flag"),
        pytest.param(["s=ftp://example.com/s.yaml"], {}, r"ftp:// is not supported", id="ftp"),
        pytest.param(["s=https:///s.yaml"], {}, "has no host", id="no-host"),
        pytest.param([], {"CALENDAR_SCALER_CALENDAR_X": " "}, "is empty", id="empty-env"),
        pytest.param(
            [],
            {"CALENDAR_SCALER_CALENDAR_SALES": "/a", "CALENDAR_SCALER_CALENDAR_sales": "/b"},
            "keep one",
            id="env-case-duplicate",
        ),
        pytest.param([], {"CALENDAR_SCALER_CALENDAR_S.X": "/a"}, "1-63 characters", id="env-dot"),
    ],
)
def test_bad_flags_and_variables_say_how_to_fix(
    pairs: list[str], environ: dict[str, str], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        load_specs(pairs, environ, None)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("calendar: {}\n", "the only top-level key is calendars", id="typo-top"),
        pytest.param("calendars: [a]\n", "calendars must be a mapping", id="list"),
        pytest.param("calendars:\n  s: {url: x}\n", "unknown key 'url'", id="unknown-key"),
        pytest.param("calendars:\n  s: {timezone: UTC}\n", "source is missing", id="no-source"),
        pytest.param("calendars:\n  s: 3\n", "give a URL or path", id="number"),
        pytest.param("calendars:\n  S_1: /a\n", "1-63 characters", id="bad-name"),
        pytest.param("calendars: {s: {source: [\n", "not valid YAML", id="broken-yaml"),
        pytest.param(
            "calendars:\n  s: {source: https://x.example/a.ics, timezone: Mars/Base}\n",
            "not a known IANA zone",
            id="bad-zone",
        ),
        pytest.param(
            "calendars:\n  s: {source: /a.ics, defaults: {lead: 1m}}\n",
            "unknown key 'lead'",
            id="defaults-key",
        ),
        pytest.param(
            "calendars:\n  s: {source: /a.ics, defaults: {leadTime: soon}}\n",
            "defaults.leadTime",
            id="defaults-duration",
        ),
        pytest.param(
            "calendars:\n  s: {source: /a.ics, scale: {replicas: 2, factor: 1}}\n",
            "exactly one of replicas, factor, load",
            id="two-scales",
        ),
        pytest.param(
            "calendars:\n  s: {source: /a.ics, scale: {replicas: 1.5}}\n",
            "must be a whole number",
            id="fractional-replicas",
        ),
        pytest.param(
            "calendars:\n  s: {source: /a.ics, scale: {load: -1}}\n",
            "must be a finite number >= 0",
            id="negative-load",
        ),
        pytest.param(
            "calendars:\n  s: {source: /a.yaml, caBundle: /etc/hostname}\n",
            "caBundle applies to https:// sources",
            id="ca-for-file",
        ),
        pytest.param(
            "calendars:\n  s: {source: https://x.example/a, caBundle: missing.pem}\n",
            "is not a file",
            id="ca-missing",
        ),
    ],
)
def test_bad_config_file_says_how_to_fix(tmp_path: Path, text: str, match: str) -> None:
    config = tmp_path / "scaler.yaml"
    config.write_text(text)

    with pytest.raises(UsageError, match=match):
        load_specs([], {}, config)


def test_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read it"):
        load_specs([], {}, tmp_path / "absent.yaml")


def test_empty_config_file_names_no_calendars(tmp_path: Path) -> None:
    config = tmp_path / "scaler.yaml"
    config.write_text("")

    assert load_specs([], {}, config) == []


def test_header_variables_go_to_the_calendar_with_the_longest_matching_name() -> None:
    environ = {
        "CALENDAR_SCALER_HEADER_SALES_AUTHORIZATION": "Bearer one",
        "CALENDAR_SCALER_HEADER_SALES_EU_X_API_KEY": "two",
    }
    pairs = ["sales=https://a.example/s.yaml", "sales-eu=https://b.example/s.yaml"]

    specs = by_name(load_specs(pairs, environ, None))

    assert specs["sales"].headers == (("Authorization", "Bearer one"),)
    assert specs["sales-eu"].headers == (("X-Api-Key", "two"),)


def test_header_values_stay_out_of_repr_and_warnings(caplog: pytest.LogCaptureFixture) -> None:
    environ = {
        "CALENDAR_SCALER_HEADER_SALES_AUTHORIZATION": "Bearer s3cret",
        "CALENDAR_SCALER_HEADER_TYPO_AUTHORIZATION": "Bearer t0psecret",
    }

    (spec,) = load_specs(["sales=https://u:pw0rd@a.example/s.yaml?token=abc"], environ, None)

    text = repr(spec) + str(spec) + "".join(r.getMessage() for r in caplog.records)
    assert "CALENDAR_SCALER_HEADER_TYPO_AUTHORIZATION matches no configured calendar" in text
    for secret in ("s3cret", "t0psecret", "pw0rd", "abc"):
        assert secret not in text
    assert spec.origin == "https://a.example/s.yaml?token=REDACTED"


def test_header_variables_for_a_file_source_are_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {"CALENDAR_SCALER_HEADER_SALES_AUTHORIZATION": "Bearer s3cret"}

    (spec,) = load_specs(["sales=/etc/sales.yaml"], environ, None)

    assert spec.headers == ()
    assert "is a file" in caplog.text and "s3cret" not in caplog.text


def test_config_file_sets_ical_defaults_and_scale(tmp_path: Path) -> None:
    config = tmp_path / "scaler.yaml"
    config.write_text(
        "calendars:\n  marketing:\n    source: https://a.example/m.ics\n"
        "    defaults: {leadTime: 15m, rampSteps: 3}\n    scale: {factor: 1.1}\n"
    )

    (spec,) = load_specs([], {}, config)

    assert spec.defaults == Timing(lead_time=900, ramp_steps=3)
    assert spec.scale == Scale(kind="factor", amount=Decimal("1.1"))
    assert spec.ical.scale == spec.scale
