"""History recording and reconciliation logic in wopi_core, over filesystem storage and an in-memory store."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from wopi_core import history
from wopi_core.dead_letters import DeadLetter
from wopi_core.history import HistoryStore, ReconcileReport, RecordOutcome, VersionRecord
from wopi_core.storage.local import LocalStorage

MAX_SIZE = 1024 * 1024
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class MemoryHistoryStore(HistoryStore):
    """HistoryStore semantics kept in a dict, so that the recording logic runs without a server."""

    def __init__(self, names: dict[str, str] | None = None) -> None:
        super().__init__(redis.Redis.from_url("redis://127.0.0.1:9/0"))
        self.records: dict[tuple[str, str], VersionRecord] = {}
        self.names = names or {}

    def record(self, rec: VersionRecord) -> bool:
        key = (rec.file_id, rec.version_id)
        if key in self.records:
            return False
        self.records[key] = rec
        return True

    def has(self, file_id: str, version_id: str) -> bool:
        return (file_id, version_id) in self.records

    def display_name(self, user_id: str) -> str:
        return self.names.get(user_id, "")


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


def _two_versions(storage: LocalStorage) -> str:
    info = storage.create_file("notes.docx", "owner-1", io.BytesIO(b"first"), max_size=MAX_SIZE)
    storage.write(info.file_id, io.BytesIO(b"second"), modified_by="editor-2", max_size=MAX_SIZE)
    return info.file_id


def test_record_version_records_author_size_and_hash(storage: LocalStorage) -> None:
    file_id = _two_versions(storage)
    store = MemoryHistoryStore({"editor-2": "Grace Hopper"})
    history.record_version(storage, store, file_id, "2", correlation_id="c-9", session_id="s-9", clock=lambda: NOW)
    current = storage.stat(file_id)
    rec = store.records[(file_id, "2")]
    assert (rec.author_name, rec.size, rec.sha256, rec.correlation_id, rec.recorded_at) == (
        "Grace Hopper",
        current.size,
        current.sha256,
        "c-9",
        NOW,
    )


def test_record_version_twice_returns_duplicate(storage: LocalStorage) -> None:
    file_id = _two_versions(storage)
    store = MemoryHistoryStore()
    history.record_version(storage, store, file_id, "2")
    assert history.record_version(storage, store, file_id, "2") is RecordOutcome.DUPLICATE


def test_record_version_of_unknown_version_returns_version_gone(storage: LocalStorage) -> None:
    file_id = _two_versions(storage)
    assert history.record_version(storage, MemoryHistoryStore(), file_id, "7") is RecordOutcome.VERSION_GONE


def test_record_version_of_deleted_file_returns_file_gone(storage: LocalStorage) -> None:
    file_id = _two_versions(storage)
    storage.delete(file_id)
    assert history.record_version(storage, MemoryHistoryStore(), file_id, "2") is RecordOutcome.FILE_GONE


def test_reconcile_records_only_missing_versions(storage: LocalStorage) -> None:
    file_id = _two_versions(storage)
    store = MemoryHistoryStore()
    history.record_version(storage, store, file_id, "1")
    report = history.reconcile(storage, store)
    assert (report.files, report.versions, report.recorded, sorted(store.records)) == (
        1,
        2,
        1,
        [(file_id, "1"), (file_id, "2")],
    )


def test_reconcile_twice_records_nothing_the_second_time(storage: LocalStorage) -> None:
    _two_versions(storage)
    store = MemoryHistoryStore()
    history.reconcile(storage, store)
    assert history.reconcile(storage, store).recorded == 0


def test_version_record_json_round_trip() -> None:
    rec = VersionRecord(
        file_id="f1",
        version_id="3",
        size=10,
        sha256="abc=",
        modified_at=NOW,
        modified_by="u1",
        author_name="Zoë",
        correlation_id="c",
        session_id="s",
        recorded_at=NOW,
    )
    assert VersionRecord.from_json(rec.to_json()) == rec


def test_reconcile_report_json_round_trip() -> None:
    report = ReconcileReport(started_at=NOW, finished_at=NOW, files=3, versions=5, recorded=1, vanished=0)
    assert ReconcileReport.from_json(report.to_json()) == report


def test_dead_letter_truncates_long_message() -> None:
    letter = DeadLetter.from_exception("wopi.x", {"file_id": "f"}, ValueError("e" * 5000), failed_at=NOW)
    assert (letter.error_type, len(letter.error)) == ("ValueError", 1000)


def test_dead_letter_json_round_trip() -> None:
    letter = DeadLetter.from_exception("wopi.x", {"file_id": "f"}, KeyError("k"), task_id="t", failed_at=NOW)
    assert DeadLetter.from_json(letter.to_json()) == letter
