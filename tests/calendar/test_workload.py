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
