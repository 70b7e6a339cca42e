"""Ladder's one settings module.

Everything comes from the environment, and every default works on a bare
machine: SQLite under ``var/``, Celery tasks run in-process, and email written
as ``.eml`` files under ``var/outbox/``. Setting ``DATABASE_URL`` and
``CELERY_BROKER_URL`` switches to PostgreSQL and Redis; ``EMAIL_BACKEND`` plus
``ANYMAIL_*`` variables switch to a real provider. ``LADDER_ENV=production``
refuses to start with the development secret key or with ``DEBUG`` on.
"""

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

#: Where the embedded default keeps its database and outbox.
VAR_DIR = Path(env.str("LADDER_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Mode and secrets -------------------------------------------------------

#: Known to everyone who has read this file, so production refuses it.
DEVELOPMENT_SECRET_KEY = "ladder-development-key-not-for-production"

#: "development" (the default) or "production".
LADDER_ENV = env.str("LADDER_ENV", default="development")
if LADDER_ENV not in ("development", "production"):
    raise ImproperlyConfigured(
        f"LADDER_ENV must be 'development' or 'production', not {LADDER_ENV!r}."
    )
PRODUCTION = LADDER_ENV == "production"

SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "LADDER_ENV=production needs SECRET_KEY set to a random value of at least "
            "32 characters; it refuses the development key."
        )
    if DEBUG:
        raise ImproperlyConfigured("LADDER_ENV=production refuses to start with DEBUG on.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

#: Absolute base URL used in links inside emails (confirmation, unsubscribe).
LADDER_SITE_URL = env.str("LADDER_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Applications -----------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "anymail",
    "customers",
    "journeys",
    "campaigns",
    "reports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'ladder.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a command writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -----------------------------------------------------------------

#: Empty means no broker: tasks run in-process, synchronously (the embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
#: Where tasks go unless sent elsewhere; the workers' -Q must name it. Two
#: Ladder instances (or a benchmark) can share one Redis with queues of their own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"

#: The journey engine's heartbeat; each tick routes new activity and advances
#: what is due. Incoming events also kick the engine at once.
LADDER_ENGINE_TICK_SECONDS = env.int("LADDER_ENGINE_TICK_SECONDS", default=30)
#: The lifecycle sweep's hour, UTC (docs/lifecycle.md): engagement decays and
#: customers lapse without any event, so every customer is recomputed once a day.
LADDER_SWEEP_HOUR = env.int("LADDER_SWEEP_HOUR", default=3)
CELERY_BEAT_SCHEDULE = {
    "journey-engine-tick": {
        "task": "journeys.tasks.engine_tick",
        "schedule": float(LADDER_ENGINE_TICK_SECONDS),
    },
    "lifecycle-sweep": {
        "task": "customers.tasks.lifecycle_sweep",
        "schedule": crontab(hour=LADDER_SWEEP_HOUR, minute=15),
    },
}

# --- Journeys ---------------------------------------------------------------

#: Enrollments one engine transaction claims and advances together.
LADDER_ENGINE_BATCH = env.int("LADDER_ENGINE_BATCH", default=1000)
#: How many advance tasks a tick fans out to when much is due (one per worker is right).
LADDER_ENGINE_PARALLELISM = env.int("LADDER_ENGINE_PARALLELISM", default=2)
#: At most this many marketing emails per customer per rolling day / week
#: (empty for no cap). A journey may set its own. A capped send waits, it is not dropped.
LADDER_FREQUENCY_CAP_PER_DAY = env.int("LADDER_FREQUENCY_CAP_PER_DAY", default=2) or None
LADDER_FREQUENCY_CAP_PER_WEEK = env.int("LADDER_FREQUENCY_CAP_PER_WEEK", default=6) or None
#: No marketing email in these local hours of the customer ("21:00-08:00"; empty disables).
LADDER_QUIET_HOURS = env.str("LADDER_QUIET_HOURS", default="21:00-08:00")

# --- Lifecycle: the ladder, engagement, CLV (docs/lifecycle.md) -------------

#: A buyer with no purchase for this many days is lapsed (Customer.lapsed_at).
LADDER_LAPSE_DAYS = env.int("LADDER_LAPSE_DAYS", default=180)
#: Engagement points (opens, clicks, purchases) halve every this many days.
LADDER_ENGAGEMENT_HALF_LIFE_DAYS = env.float("LADDER_ENGAGEMENT_HALF_LIFE_DAYS", default=30.0)
#: Expected customer lifespan in years, for CLV. Empty: estimated every night
#: from the population's churn (1 / annual churn).
LADDER_CLV_LIFESPAN_YEARS = env.float("LADDER_CLV_LIFESPAN_YEARS", default=0.0) or None
#: Customers the nightly sweep recomputes per transaction.
LADDER_SWEEP_CHUNK = env.int("LADDER_SWEEP_CHUNK", default=10_000)
#: Connections the sweep works on side by side (PostgreSQL; one per core is right).
LADDER_SWEEP_PARALLELISM = env.int("LADDER_SWEEP_PARALLELISM", default=2)
#: With workers and Redis, activity waits this long to be refreshed together
#: with whatever follows it (webhooks arrive one event per request).
LADDER_LIFECYCLE_COALESCE_SECONDS = env.float("LADDER_LIFECYCLE_COALESCE_SECONDS", default=1.0)

# --- Email ------------------------------------------------------------------

#: Default: one .eml file per message under var/outbox/ (config.mail.EmlOutboxBackend).
#: Set to any django-anymail backend, e.g. "anymail.backends.postmark.EmailBackend".
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="config.mail.EmlOutboxBackend")
EMAIL_OUTBOX_DIR = Path(env.str("EMAIL_OUTBOX_DIR", default=str(VAR_DIR / "outbox")))
#: For EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend (any SMTP relay).
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Ladder <hello@ladder.localhost>")
#: The sender's postal address, shown in every marketing email's footer (the
#: law in many countries asks for it). Several lines are fine.
LADDER_POSTAL_ADDRESS = env.str("LADDER_POSTAL_ADDRESS", default="")

#: From addresses the provider has verified, one per line (or separated by
#: ";"); a message picks one, and nothing is sent from any other. The first is
#: the default.
LADDER_SENDERS = [
    sender.strip()
    for sender in env.str("LADDER_SENDERS", default=DEFAULT_FROM_EMAIL)
    .replace(";", "\n")
    .split("\n")
    if sender.strip()
]
#: The mailto: half of List-Unsubscribe. Mail to it is read by the inbound
#: webhook (docs/webhooks.md), which unsubscribes the delivery the subject names.
LADDER_UNSUBSCRIBE_MAILBOX = env.str(
    "LADDER_UNSUBSCRIBE_MAILBOX",
    default="unsubscribe@" + LADDER_SENDERS[0].rpartition("@")[2].rstrip(">"),
)

# --- Dispatch (docs/operations.md) ------------------------------------------

#: Queued deliveries one worker claims at a time (consent, suppression and
#: frequency cap are re-checked for all of them in a few queries).
LADDER_DISPATCH_BATCH = env.int("LADDER_DISPATCH_BATCH", default=500)
#: Deliveries handed to a one-call-per-message provider between two status
#: writes; a worker killed mid-send leaves at most these UNKNOWN.
LADDER_DISPATCH_CHUNK = env.int("LADDER_DISPATCH_CHUNK", default=50)
#: Attempts per delivery before a transient failure (429, 5xx, timeout) becomes final.
LADDER_SEND_MAX_ATTEMPTS = env.int("LADDER_SEND_MAX_ATTEMPTS", default=5)
#: Retry n waits a random time up to base * 2**(n-1), at most the maximum;
#: longer when the provider's Retry-After says so (up to the maximum).
LADDER_SEND_RETRY_BASE_SECONDS = env.float("LADDER_SEND_RETRY_BASE_SECONDS", default=30.0)
LADDER_SEND_RETRY_MAX_SECONDS = env.float("LADDER_SEND_RETRY_MAX_SECONDS", default=3600.0)
#: Messages per second handed to the provider, across all workers (0: no limit).
LADDER_SEND_RATE = env.float("LADDER_SEND_RATE", default=0.0)
#: A delivery SENDING for longer than this lost its worker: it becomes UNKNOWN.
LADDER_SENDING_TIMEOUT_SECONDS = env.int("LADDER_SENDING_TIMEOUT_SECONDS", default=600)
#: Shared state of the workers (the rate limit). Defaults to the Celery broker
#: when that is Redis; without it the limit holds within one process.
LADDER_REDIS_URL = env.str(
    "LADDER_REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)


#: Every ANYMAIL_<NAME> variable becomes ANYMAIL["<NAME>"], e.g.
#: ANYMAIL_POSTMARK_SERVER_TOKEN -> ANYMAIL["POSTMARK_SERVER_TOKEN"].
def _anymail_value(name: str, value: str):
    """Environment variables are strings; anymail wants numbers and booleans
    for a few settings (a string timeout makes every send fail)."""
    if name.endswith("_TIMEOUT"):
        return float(value)
    if name.endswith(("_USE_BULK_API", "IGNORE_RECIPIENT_STATUS", "DEBUG_API_REQUESTS")):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


ANYMAIL = {
    name.removeprefix("ANYMAIL_"): _anymail_value(name, value)
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}

# --- HTTP API ---------------------------------------------------------------

#: Largest request body the API reads; larger ones get 413 before parsing.
LADDER_API_MAX_BODY_BYTES = env.int("LADDER_API_MAX_BODY_BYTES", default=4 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LADDER_API_MAX_BODY_BYTES
#: Most events accepted in one batch request.
LADDER_API_MAX_BATCH = 1000

# --- Consent ----------------------------------------------------------------

#: How long a double opt-in confirmation link stays valid.
LADDER_CONSENT_CONFIRM_MAX_AGE = env.int("LADDER_CONSENT_CONFIRM_MAX_AGE", default=7 * 24 * 3600)

# --- Internationalisation and static files ----------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
