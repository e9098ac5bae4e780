"""Celery workers of the WOPI host: version history, reconciliation and periodic jobs."""
