"""ScaledObject trigger metadata into a Workload (SPEC 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scaler.calendar.workload import DEFAULT_METRIC_NAME, Workload, parse_labels, parse_metadata
from scaler.errors import MetadataError


def workload(**metadata: str) -> Workload:
    return parse_metadata("shop", "web", metadata, known_calendars={"sales", "drops"})


def test_empty_metadata_gives_the_defaults() -> None:
    assert Workload(namespace="shop", name="web") == workload()


def test_defaults_are_one_share_no_minimums_and_the_default_metric_name() -> None:
    w = workload()
    assert (Decimal(1), 0, 0, 0, "sale-calendar", None) == (
        w.load_share, w.lead_time, w.ramp_up, w.ramp_down, w.metric_name, w.calendars,
    )  # fmt: skip


def test_every_key_of_the_table_is_read() -> None:
    assert Workload(
        namespace="shop",
        name="web",
        labels={"tier": "frontend", "env": "prod"},
        calendars=("sales",),
        base_replicas=4,
        capacity_per_replica=Decimal("150.5"),
        load_share=Decimal("0.3"),
        lead_time=600,
        ramp_up=300,
        ramp_down=5400,
        metric_name="checkout-floor",
    ) == workload(
        scalerAddress="calendar-scaler.keda:9090",
        calendars="sales",
        labels="tier=frontend, env=prod",
        baseReplicas="4",
        capacityPerReplica="150.5",
        loadShare="0.3",
        leadTime="10m",
        rampUp="5m",
        rampDown="1h30m",
        metricName="checkout-floor",
    )


def test_keys_the_table_does_not_name_are_ignored() -> None:
    assert workload() == workload(
        scalerAddress="x:9090", activationTargetValue="banana", somethingElse="?"
    )


def test_pod_startup_with_a_bad_value_names_the_key() -> None:
    # podStartup is in the README's metadata table (issue 6), so it is checked like the others.
    with pytest.raises(MetadataError, match="podStartup"):
        workload(podStartup="soon")


def test_calendars_list_is_trimmed_and_deduplicated() -> None:
    assert ("sales", "drops") == workload(calendars=" sales, drops ,sales,").calendars


def test_capacity_per_replica_is_exact_decimal() -> None:
    assert Decimal("0.1") == workload(capacityPerReplica="0.1").capacity_per_replica


def test_zero_load_share_is_allowed() -> None:
    assert Decimal(0) == workload(loadShare="0").load_share


def test_blank_values_mean_the_default() -> None:
    assert workload() == workload(baseReplicas=" ", loadShare="", leadTime="", labels="")


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        pytest.param({"calendars": "sales,nope"}, "calendars", id="unknown-calendar"),
        pytest.param({"baseReplicas": "four"}, "baseReplicas", id="base-not-a-number"),
        pytest.param({"baseReplicas": "-1"}, "baseReplicas", id="base-negative"),
        pytest.param({"baseReplicas": "2.5"}, "baseReplicas", id="base-fraction"),
        pytest.param({"capacityPerReplica": "0"}, "capacityPerReplica", id="capacity-zero"),
        pytest.param({"capacityPerReplica": "-5"}, "capacityPerReplica", id="capacity-negative"),
        pytest.param({"capacityPerReplica": "lots"}, "capacityPerReplica", id="capacity-text"),
        pytest.param({"capacityPerReplica": "NaN"}, "capacityPerReplica", id="capacity-nan"),
        pytest.param({"capacityPerReplica": "Infinity"}, "capacityPerReplica", id="capacity-inf"),
        pytest.param({"loadShare": "-0.1"}, "loadShare", id="share-negative"),
        pytest.param({"loadShare": "inf"}, "loadShare", id="share-inf"),
        pytest.param({"leadTime": "15"}, "leadTime", id="lead-without-unit"),
        pytest.param({"rampUp": "1.5m"}, "rampUp", id="ramp-up-fraction"),
        pytest.param({"rampDown": "-5m"}, "rampDown", id="ramp-down-negative"),
        pytest.param({"labels": "tier"}, "labels", id="label-without-value"),
        pytest.param({"labels": "=frontend"}, "labels", id="label-without-name"),
        pytest.param({"labels": "tier frontend=x"}, "labels", id="label-name-with-space"),
        pytest.param({"metricName": "sale calendar"}, "metricName", id="metric-name-space"),
        pytest.param({"metricName": "-floor"}, "metricName", id="metric-name-leading-dash"),
    ],
)
def test_bad_metadata_names_the_key(metadata: dict[str, str], key: str) -> None:
    with pytest.raises(MetadataError, match=f"^{key}: ") as caught:
        workload(**metadata)
    assert key == caught.value.key


def test_unknown_calendar_message_lists_the_configured_ones() -> None:
    with pytest.raises(MetadataError, match=r"nope not configured.*use one of: drops, sales"):
        workload(calendars="nope")


def test_calendars_are_not_checked_without_a_configured_list() -> None:
    assert ("anything",) == parse_metadata("shop", "web", {"calendars": "anything"}).calendars


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", {}, id="empty"),
        pytest.param("tier=frontend", {"tier": "frontend"}, id="one"),
        pytest.param("a=1, b=2,", {"a": "1", "b": "2"}, id="spaces-and-trailing-comma"),
        pytest.param("team=", {"team": ""}, id="empty-value"),
        pytest.param(
            "app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, id="prefixed"
        ),
    ],
)
def test_labels_are_comma_separated_pairs(text: str, expected: dict[str, str]) -> None:
    assert expected == parse_labels(text)


def test_default_metric_name_is_sale_calendar() -> None:
    assert "sale-calendar" == DEFAULT_METRIC_NAME


@pytest.mark.parametrize(
    "key, raw",
    [
        pytest.param("capacityPerReplica", "1e-99999", id="tiny-capacity"),
        pytest.param("loadShare", "1e99999", id="huge-share"),
        pytest.param("baseReplicas", "99999999999", id="base-beyond-int32"),
    ],
)
def test_numbers_of_absurd_magnitude_are_rejected_not_computed(key: str, raw: str) -> None:
    # Exact arithmetic on such numbers would stall the scaler for minutes.
    with pytest.raises(MetadataError, match=key) as caught:
        parse_metadata("shop", "web", {key: raw})
    assert caught.value.key == key


# -- `<key>FromEnv` (KEDA resolves it from the target's environment) ------------------------

ALL_KEYS = {
    "calendars": "sales",
    "labels": "tier=frontend",
    "baseReplicas": "4",
    "capacityPerReplica": "150.5",
    "loadShare": "0.3",
    "leadTime": "10m",
    "rampUp": "5m",
    "rampDown": "1h30m",
    "podStartup": "2m",
    "metricName": "checkout-floor",
}


def test_every_key_is_also_read_in_its_from_env_form() -> None:
    from_env = {f"{key}FromEnv": value for key, value in ALL_KEYS.items()}

    assert workload(**ALL_KEYS) == workload(**from_env)


def test_the_plain_key_wins_over_its_from_env_form() -> None:
    assert 4 == workload(baseReplicas="4", baseReplicasFromEnv="9").base_replicas


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        pytest.param("calendars", "nope", id="calendars"),
        pytest.param("labels", "tier", id="labels"),
        pytest.param("baseReplicas", "x", id="base"),
        pytest.param("capacityPerReplica", "0", id="capacity"),
        pytest.param("loadShare", "-1", id="share"),
        pytest.param("leadTime", "soon", id="lead"),
        pytest.param("rampUp", "32d", id="ramp-up"),
        pytest.param("rampDown", "1w", id="ramp-down"),
        pytest.param("podStartup", "1", id="pod-startup"),
        pytest.param("metricName", "a b", id="metric-name"),
    ],
)
def test_an_error_in_the_from_env_form_names_the_key_as_written(key: str, bad: str) -> None:
    written = f"{key}FromEnv"
    with pytest.raises(MetadataError, match=f"^{written}: ") as caught:
        workload(**{written: bad})
    assert written == caught.value.key


def test_base_replicas_from_env_error_quotes_the_value() -> None:
    with pytest.raises(MetadataError, match=r"^baseReplicasFromEnv: 'x' is not a whole number"):
        workload(baseReplicasFromEnv="x")


# -- bounds (SPEC 4: one ScaledObject must never slow the scaler for the others) ------------


@pytest.mark.parametrize("key", ["leadTime", "rampUp", "rampDown", "podStartup"])
def test_a_duration_of_31_days_is_accepted(key: str) -> None:
    w = parse_metadata("shop", "web", {key: "30d24h"})
    assert 31 * 86400 in (w.lead_time, w.ramp_up, w.ramp_down, w.pod_startup)


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        pytest.param("leadTime", "31d1s", id="lead-one-second-more"),
        pytest.param("rampUp", "1000d", id="ramp-up-1000d"),
        pytest.param("rampDown", "999999999999999d", id="ramp-down-huge"),
        pytest.param("leadTimeFromEnv", "745h", id="from-env"),
    ],
)
def test_a_duration_beyond_31_days_names_the_key_and_the_bound(key: str, raw: str) -> None:
    with pytest.raises(MetadataError, match=f"^{key}: '{raw}' is longer than 31d") as caught:
        parse_metadata("shop", "web", {key: raw})
    assert key == caught.value.key


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        pytest.param("baseReplicas", "1_000", id="base-underscore"),
        pytest.param("baseReplicas", "\u0664", id="base-arabic-indic-digit"),
        pytest.param("baseReplicas", "\uff14", id="base-fullwidth-digit"),
        pytest.param("capacityPerReplica", "1_000", id="capacity-underscore"),
        pytest.param("capacityPerReplica", "\u0967\u0966", id="capacity-devanagari"),
        pytest.param("loadShare", "0_5", id="share-underscore"),
        pytest.param("loadShare", "\u0661", id="share-arabic-indic"),
        pytest.param("leadTime", "\u0661\u0665m", id="lead-arabic-indic"),
        pytest.param("rampUp", "1_0m", id="ramp-underscore"),
    ],
)
def test_numbers_are_plain_ascii_decimals(key: str, raw: str) -> None:
    # int() and Decimal() read both `1_000` and other scripts' digits.
    with pytest.raises(MetadataError, match=f"^{key}: ") as caught:
        parse_metadata("shop", "web", {key: raw})
    assert key == caught.value.key


def test_a_value_of_4096_characters_is_accepted() -> None:
    assert workload() == workload(somethingElse="x" * 4096)


@pytest.mark.parametrize("key", ["baseReplicas", "somethingElse", "labelsFromEnv"])
def test_a_value_over_4096_characters_is_rejected_naming_the_key(key: str) -> None:
    with pytest.raises(MetadataError, match=f"'{key}': the value is 4,097 characters") as caught:
        workload(**{key: "1" * 4097})
    assert key == caught.value.key


def test_metadata_over_64_kib_in_all_is_rejected() -> None:
    metadata = {f"junk{i:02}": "x" * 4000 for i in range(17)}  # 68,102 bytes

    with pytest.raises(
        MetadataError, match=r"^metadata is 68,\d{3} bytes in all, more than 65,536"
    ):
        workload(**metadata)


def test_a_one_megabyte_digit_string_is_a_metadata_error_not_pythons_limit() -> None:
    # int() of more than 4,300 digits raises ValueError with Python's own text.
    with pytest.raises(MetadataError, match=r"^metadata key 'baseReplicas'") as caught:
        parse_metadata("shop", "web", {"baseReplicas": "9" * 1_000_000})
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "key", ["calendars", "labels", "baseReplicas", "capacityPerReplica", "loadShare", "leadTime",
            "rampUp", "rampDown", "metricName"],
)  # fmt: skip
def test_an_error_quotes_at_most_100_characters_of_the_value(key: str) -> None:
    with pytest.raises(MetadataError, match=f"^{key}: ") as caught:
        workload(**{key: "#" * 4000})  # bad for every key, and long
    message = str(caught.value)
    assert "#" * 100 in message
    assert "#" * 101 not in message
    assert len(message) < 400
