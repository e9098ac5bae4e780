"""The discovery refresh task's registration and beat entry, without a broker."""

from __future__ import annotations

from tests.conftest import SettingsFactory
from wopi_core.events import TASK_REFRESH_DISCOVERY
from wopi_workers import app as worker_app
from wopi_workers import schedule
from wopi_workers.tasks import discovery as discovery_tasks

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


def test_create_celery_app_registers_discovery_refresh(settings_factory: SettingsFactory) -> None:
    app = worker_app.create_celery_app(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    assert TASK_REFRESH_DISCOVERY in app.tasks


def test_beat_schedule_refreshes_discovery_every_12_hours_by_default(settings_factory: SettingsFactory) -> None:
    entry = schedule.beat_schedule(settings_factory())["refresh-discovery"]
    assert entry["task"] == TASK_REFRESH_DISCOVERY
    assert entry["schedule"] == 43200.0


def test_beat_schedule_follows_discovery_refresh_setting(settings_factory: SettingsFactory) -> None:
    entry = schedule.beat_schedule(settings_factory(WOPI_DISCOVERY_REFRESH="600"))["refresh-discovery"]
    assert entry["schedule"] == 600.0


def test_discovery_refresh_soft_time_limit_below_hard_limit() -> None:
    assert discovery_tasks.SOFT_TIME_LIMIT < discovery_tasks.TIME_LIMIT
