"""Settings of the naive sender's workers in bench.delivery: Ladder's, plus its task.

``config.celery`` discovers tasks in installed apps only; the naive sender is
bench code, kept out of the project, so its workers import it by name.
"""

from config.settings import *  # noqa: F403

#: Modules a Celery worker imports at start (Celery's ``imports`` setting).
CELERY_IMPORTS = ("bench.naive",)
