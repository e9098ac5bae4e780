"""`wopihost status` checks, the requesting-client label of the metrics, and the task counters' buckets."""

from __future__ import annotations

import pytest

from tests.conftest import SettingsFactory
from wopi_api.commands.admin import StatusReport, check_dead_letters, check_discovery, check_reconcile, check_workers
from wopi_api.metrics import CLIENTS, client_family
from wopi_core.task_metrics import bucket_for, parse_stats

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({b"user-agent": b"Microsoft Office WOPI Validator/1.0"}, "validator", id="validator"),
        pytest.param({b"user-agent": b"COOLWSD HTTP Agent 23.05"}, "collabora", id="collabora"),
        pytest.param({b"x-wopi-requestingapplication": b"OnlyOffice"}, "onlyoffice", id="onlyoffice"),
        pytest.param({b"user-agent": b"curl/8.0"}, "other", id="other"),
        pytest.param({}, "other", id="none"),
    ],
)
def test_client_family_maps_to_fixed_set(headers: dict[bytes, bytes], expected: str) -> None:
    assert client_family(headers) == expected


def test_client_family_values_are_bounded() -> None:
    assert client_family({b"user-agent": b"x" * 500}) in CLIENTS


def test_status_no_live_worker_is_a_problem() -> None:
    report = StatusReport()
    check_workers(report, 0)
    assert report.problems == ["workers alive: no worker answered the ping"]


def test_status_dead_letters_are_a_problem() -> None:
    report = StatusReport()
    check_dead_letters(report, 2)
    assert len(report.problems) == 1


def test_status_reconcile_older_than_three_intervals_is_a_problem(settings_factory: SettingsFactory) -> None:
    settings = settings_factory(WOPI_RECONCILE_INTERVAL="60")
    report = StatusReport()
    check_reconcile(report, settings, NOW - 181, NOW)
    assert len(report.problems) == 1


def test_status_reconcile_not_yet_run_is_not_a_problem(settings_factory: SettingsFactory) -> None:
    report = StatusReport()
    check_reconcile(report, settings_factory(), None, NOW)
    assert report.problems == []


def test_status_unconfigured_discovery_is_not_a_problem(settings_factory: SettingsFactory) -> None:
    report = StatusReport()
    check_discovery(report, settings_factory(), None, NOW)
    assert report.problems == []


def test_status_stale_discovery_is_a_problem(settings_factory: SettingsFactory) -> None:
    settings = settings_factory(WOPI_DISCOVERY_URL="http://127.0.0.1:9/hosting/discovery", WOPI_DISCOVERY_REFRESH="100")
    report = StatusReport()
    check_discovery(report, settings, NOW - 201, NOW)
    assert len(report.problems) == 1


def test_task_stats_buckets_are_cumulative() -> None:
    counts: dict[bytes | str, bytes | str] = {b"wopi.history.record_version|success": b"3"}
    latency: dict[bytes | str, bytes | str] = {
        f"wopi.history.record_version|{bucket_for(0.01)}".encode(): b"2",
        f"wopi.history.record_version|{bucket_for(7.0)}".encode(): b"1",
        b"wopi.history.record_version|sum": b"7.02",
        b"wopi.history.record_version|count": b"3",
    }
    stats = parse_stats(counts, latency)
    assert stats.latency["wopi.history.record_version"].buckets[-1] == ("+Inf", 3.0)
