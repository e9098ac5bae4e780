"""The worker app's configuration, registered tasks, schedule and signal handlers, without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SettingsFactory
from wopi_core import logging as wopi_logging
from wopi_core.errors import ConfigError
from wopi_core.events import ALL_TASKS, TASK_RECONCILE
from wopi_workers import app as worker_app
from wopi_workers import schedule
from wopi_workers.tasks import history as history_tasks
from wopi_workers.tasks import reconcile as reconcile_tasks

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


def test_create_celery_app_registers_every_worker_task(settings_factory: SettingsFactory) -> None:
    app = worker_app.create_celery_app(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    missing = set(ALL_TASKS) - set(app.tasks)
    assert missing == set()


def test_create_celery_app_requires_redis_url(settings_factory: SettingsFactory) -> None:
    with pytest.raises(ConfigError, match="WOPI_REDIS_URL"):
        worker_app.create_celery_app(settings_factory())


def test_celery_config_acks_late_with_prefetch_of_one(settings_factory: SettingsFactory) -> None:
    config = worker_app.celery_config(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    assert (config["task_acks_late"], config["worker_prefetch_multiplier"]) == (True, 1)


def test_celery_config_visibility_timeout_exceeds_longest_task(settings_factory: SettingsFactory) -> None:
    config = worker_app.celery_config(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    assert config["broker_transport_options"]["visibility_timeout"] > worker_app.LONGEST_TASK_SECONDS


def test_celery_config_soft_limit_below_hard_limit(settings_factory: SettingsFactory) -> None:
    config = worker_app.celery_config(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    assert config["task_soft_time_limit"] < config["task_time_limit"]


@pytest.mark.parametrize(
    ("soft", "hard"),
    [
        pytest.param(history_tasks.SOFT_TIME_LIMIT, history_tasks.TIME_LIMIT, id="record-version"),
        pytest.param(reconcile_tasks.SOFT_TIME_LIMIT, reconcile_tasks.TIME_LIMIT, id="reconcile"),
    ],
)
def test_task_soft_time_limit_below_hard_limit(soft: int, hard: int) -> None:
    assert soft < hard


def test_reconcile_lock_outlives_hard_time_limit() -> None:
    assert reconcile_tasks.LOCK_TIMEOUT > reconcile_tasks.TIME_LIMIT


def test_celery_config_sets_explicit_socket_timeouts(settings_factory: SettingsFactory) -> None:
    options = worker_app.celery_config(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))["broker_transport_options"]
    assert options["socket_timeout"] > 0 and options["socket_connect_timeout"] > 0


def test_celery_config_sends_events_for_flower(settings_factory: SettingsFactory) -> None:
    config = worker_app.celery_config(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    assert (config["task_send_sent_event"], config["worker_send_task_events"]) == (True, True)


def test_celery_config_keeps_beat_schedule_in_data_dir(settings_factory: SettingsFactory, tmp_path: Path) -> None:
    settings = settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS, WOPI_DATA_DIR=str(tmp_path / "d"))
    config = worker_app.celery_config(settings)
    assert Path(config["beat_schedule_filename"]).parent == tmp_path / "d"


def test_beat_schedule_runs_reconcile_every_default_interval(settings_factory: SettingsFactory) -> None:
    entries = schedule.beat_schedule(settings_factory())
    assert (entries["reconcile-storage"]["task"], entries["reconcile-storage"]["schedule"]) == (
        TASK_RECONCILE,
        float(schedule.DEFAULT_RECONCILE_INTERVAL),
    )


def test_beat_schedule_only_names_registered_tasks(settings_factory: SettingsFactory) -> None:
    app = worker_app.create_celery_app(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    scheduled = {entry["task"] for entry in schedule.beat_schedule(settings_factory()).values()}
    assert scheduled <= set(app.tasks)


def test_task_prerun_sets_correlation_id_until_postrun() -> None:
    kwargs = {"file_id": "f", "version_id": "1", "correlation_id": "corr-1", "session_id": "sess-1"}
    worker_app._enter_task_context(task_id="t-1", kwargs=kwargs)
    inside = (wopi_logging.correlation_id.get(), wopi_logging.session_id.get())
    worker_app._leave_task_context(task_id="t-1")
    after = (wopi_logging.correlation_id.get(), wopi_logging.session_id.get())
    assert (inside, after) == (("corr-1", "sess-1"), ("", ""))
