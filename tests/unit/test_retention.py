"""The version policy as pure functions over version records, and how retried saves are recognised."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from wopi_core.history import DUPLICATE_WINDOW_SECONDS, VersionRecord
from wopi_core.retention import COALESCED, EXPIRED, RetentionPolicy, plan_retention
from wopi_core.versions import ChunkReader, describe_versions

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _record(version: str, minutes_ago: float, session: str = "", sha: str = "", by: str = "u-1") -> VersionRecord:
    return VersionRecord(
        file_id="f1",
        version_id=version,
        size=1,
        sha256=sha or f"sha-{version}",
        modified_at=NOW - timedelta(minutes=minutes_ago),
        modified_by=by,
        author_name="",
        correlation_id="",
        session_id=session,
        recorded_at=NOW,
    )


def test_plan_retention_coalesces_finished_session_keeping_last_save() -> None:
    records = [_record("1", 120, "s"), _record("2", 110, "s"), _record("3", 100, "s"), _record("4", 1)]
    marks = plan_retention(records, "4", NOW, RetentionPolicy(coalesce=True, session_idle_seconds=1800))
    assert marks == {"1": COALESCED, "2": COALESCED}


def test_plan_retention_leaves_live_session_alone() -> None:
    records = [_record("1", 5, "s"), _record("2", 1, "s")]
    assert plan_retention(records, "9", NOW, RetentionPolicy(coalesce=True, session_idle_seconds=1800)) == {}


def test_plan_retention_keeps_newest_count() -> None:
    records = [_record(str(n), 100 - n) for n in range(5)]
    assert plan_retention(records, "4", NOW, RetentionPolicy(keep_count=2)) == {
        "0": EXPIRED,
        "1": EXPIRED,
        "2": EXPIRED,
    }


def test_plan_retention_expires_versions_older_than_days() -> None:
    records = [_record("old", 3 * 24 * 60), _record("new", 10)]
    assert plan_retention(records, "new", NOW, RetentionPolicy(keep_days=2)) == {"old": EXPIRED}


def test_plan_retention_never_marks_current_version() -> None:
    records = [_record("old", 3 * 24 * 60)]
    assert plan_retention(records, "old", NOW, RetentionPolicy(keep_days=1, keep_count=1)) == {}


def test_plan_keeps_version_retry_repeats() -> None:
    records = [
        _record("old", 3 * 24 * 60, sha="same"),
        replace(_record("retry", 3 * 24 * 60 - 0.1), duplicate_of="old"),
    ]
    assert plan_retention(records, "retry", NOW, RetentionPolicy(keep_days=1)) == {}


def test_plan_retention_without_policy_marks_nothing() -> None:
    records = [_record("1", 10_000, "s"), _record("2", 1)]
    assert plan_retention(records, "2", NOW, RetentionPolicy()) == {}


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        pytest.param(_record("2", 0, "s", sha="same"), True, id="same-save-moments-later"),
        pytest.param(_record("2", 0, "s", sha="other"), False, id="different-content"),
        pytest.param(_record("2", 0, "t", sha="same"), False, id="different-session"),
        pytest.param(_record("2", 0, "s", sha="same", by="u-2"), False, id="different-author"),
        pytest.param(_record("2", -DUPLICATE_WINDOW_SECONDS, "s", sha="same"), False, id="too-late"),
    ],
)
def test_version_record_repeats_only_a_retry(later: VersionRecord, expected: bool) -> None:
    earlier = _record("1", DUPLICATE_WINDOW_SECONDS / 120, "s", sha="same")
    assert later.repeats(earlier) is expected


def test_describe_versions_hides_retry() -> None:
    original = _record("1", 1, "s", sha="same")
    retry = replace(_record("2", 0.5, "s", sha="same"), duplicate_of="1")
    listed = describe_versions([original, retry], {}, "2")
    assert [(v["version"], v["current"]) for v in listed] == [("1", True)]


def test_describe_versions_all_includes_marked_versions() -> None:
    listed = describe_versions([_record("1", 10), _record("2", 1)], {"1": EXPIRED}, "2", include_hidden=True)
    assert [v["state"] for v in listed] == ["kept", EXPIRED]


def test_chunk_reader_reads_across_chunk_boundaries() -> None:
    reader = ChunkReader(iter([b"abc", b"defg", b"h"]))
    assert [reader.read(2), reader.read(4), reader.read(-1)] == [b"ab", b"cdef", b"gh"]
