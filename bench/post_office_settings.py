"""Settings for the django-post-office comparison in bench.delivery.

Ladder's settings plus ``post_office`` and the configuration its documentation
gives for throughput: big batches, a process per core (``send_queued_mail
--processes``), threads per process to overlap the HTTP round trips, and no
log row per email. It sends through ``EMAIL_BACKEND`` (anymail's Postmark
backend in the bench). Nothing in ``config/settings.py`` changes.
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS, env

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]

#: The bench task that queues through post_office (bench.post_office_run).
CELERY_IMPORTS = ("bench.post_office_run",)

POST_OFFICE = {
    #: Emails one ``send_queued`` takes and splits across the processes; each
    #: batch forks a new pool, so bigger is cheaper (bench.delivery tried 500-5,000).
    "BATCH_SIZE": env.int("BENCH_POST_OFFICE_BATCH_SIZE", default=2000),
    #: Threads per sending process: with one HTTP call per email, threads wait
    #: on the network side by side.
    "THREADS_PER_PROCESS": env.int("BENCH_POST_OFFICE_THREADS", default=4),
    #: 0: no Log row per email (2, the default, writes one for every email sent).
    "LOG_LEVEL": 0,
    "MAX_RETRIES": 0,
    "CELERY_ENABLED": False,
}
