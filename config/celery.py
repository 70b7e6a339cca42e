"""The Celery app. With no CELERY_BROKER_URL, tasks run in-process (eager)."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from config import collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ladder")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect  # each child of a prefork pool
@worker_ready.connect  # the solo and threads pools run tasks in the worker itself
def _settle_collector(**kwargs) -> None:
    """Keep the garbage collector out of rendering and dispatch (config.collector)."""
    collector.settle()
