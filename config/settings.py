"""Parvis settings, read from the environment.

Nothing here needs a server: without any variable set, Parvis runs on SQLite and
Celery's filesystem transport under ``var/`` (the embedded default). Production
sets ``DATABASE_URL``, ``REDIS_URL``, ``CELERY_BROKER_URL``, ``SECRET_KEY`` and
``PARVIS_ENCRYPTION_KEYS`` (see docs/deployment.md). A malformed value stops the
process at start rather than later.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.secrets import (
    check_encryption_keys,
    read_or_create_encryption_keys,
    read_or_create_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

VAR_DIR = Path(env.str("PARVIS_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("PARVIS_TESTING", default="pytest" in sys.modules)

SECRET_KEY = env.str("SECRET_KEY", default="") or read_or_create_secret_key(VAR_DIR)

# Fernet keys for credentials at rest; the first one encrypts, all of them decrypt.
PARVIS_ENCRYPTION_KEYS: list[str] = env.list("PARVIS_ENCRYPTION_KEYS", default=[]) or (
    read_or_create_encryption_keys(VAR_DIR)
)
check_encryption_keys(PARVIS_ENCRYPTION_KEYS)
# Old signing keys still accepted while sessions and reset links signed with them expire.
SECRET_KEY_FALLBACKS: list[str] = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "access",
    "collectivites",
    "networks",
    "publishing",
    "monitoring",
    "reporting",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # before whitenoise, so static files get the CSP and Permissions-Policy too
    "config.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.locale.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session proved a second factor
    "django_otp.middleware.OTPMiddleware",
    # the client's IP and user agent for the audit trail (audit/context.py)
    "audit.context.RequestMetaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "access.middleware.IdleSessionMiddleware",
    "collectivites.middleware.TenantMiddleware",
    # answers a locked-out login with access/lockout.html (django-axes)
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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
                "django.template.context_processors.i18n",
                "collectivites.context_processors.tenancy",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database -------------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'parvis.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout so the web process and the worker share the file.
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        }
    )
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["ENGINE"] = "django.db.backends.postgresql"
    _db.setdefault("CONN_HEALTH_CHECKS", True)
    _db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    _db.setdefault("TEST", {})["NAME"] = env.str("DATABASE_TEST_NAME", default="test_parvis")
else:
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL or SQLite.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -------------------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="parvis"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# One place for every periodic task (later issues add theirs here).
CELERY_BEAT_SCHEDULE = {
    "purge-expired-invitations": {
        "task": "collectivites.tasks.purge_expired_invitations",
        "schedule": timedelta(seconds=env.int("PARVIS_MAINTENANCE_INTERVAL", default=3600)),
        "options": {"expires": 300},
    },
    "dispatch-due-variants": {
        "task": "publishing.tasks.dispatch",
        "schedule": timedelta(seconds=env.float("PARVIS_DISPATCH_INTERVAL", default=2.0)),
        "options": {"expires": 30},
    },
    "reap-expired-leases": {
        "task": "publishing.tasks.reap",
        "schedule": timedelta(seconds=env.int("PARVIS_REAP_INTERVAL", default=30)),
        "options": {"expires": 60},
    },
    "collect-inboxes": {
        "task": "monitoring.tasks.collect_due",
        "schedule": timedelta(seconds=env.int("PARVIS_COLLECT_INTERVAL", default=30)),
        "options": {"expires": 60},
    },
    "run-watches": {
        "task": "monitoring.tasks.watch_due",
        "schedule": timedelta(seconds=env.int("PARVIS_WATCH_TICK", default=60)),
        "options": {"expires": 60},
    },
    # citizens' messages past their collectivité's retention period are anonymised
    "purge-personal-data": {
        "task": "monitoring.tasks.purge_personal_data",
        "schedule": timedelta(
            seconds=env.int("PARVIS_PERSONAL_DATA_PURGE_INTERVAL", default=86400)
        ),
        "options": {"expires": 3600},
    },
    "purge-audit-trail": {
        "task": "audit.tasks.purge_audit_trail",
        "schedule": timedelta(hours=24),
        "options": {"expires": 3600},
    },
    "verify-social-accounts": {
        "task": "collectivites.tasks.verify_social_accounts",
        "schedule": timedelta(seconds=env.int("PARVIS_ACCOUNT_CHECK_INTERVAL", default=6 * 3600)),
        "options": {"expires": 600},
    },
    # each account's metrics once a day, at its own moment (reporting.services._slot)
    "collect-metrics": {
        "task": "reporting.tasks.collect_metrics_due",
        "schedule": timedelta(seconds=env.int("PARVIS_METRICS_INTERVAL", default=300)),
        "options": {"expires": 240},
    },
    # the inbox's daily counts that the dashboards sum (reporting.models.InboxDay): the day
    # that became settled and the days invalidated since, once a night
    "refresh-inbox-days": {
        "task": "reporting.tasks.refresh_inbox_days",
        "schedule": crontab(minute=30, hour=1),
        "options": {"expires": 3 * 3600},
    },
    # last month's PDF report to each collectivité's chosen recipients, at 06:00 UTC on the
    # 1st; the 2nd and 3rd catch up after an outage (the send is idempotent per recipient)
    "send-monthly-reports": {
        "task": "reporting.tasks.send_monthly_reports",
        "schedule": crontab(minute=0, hour=6, day_of_month="1-3"),
        "options": {"expires": 3600},
    },
}

# --- Authentication ---------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 10)
# access/: idle expiry, re-authentication before sensitive actions, 2FA, lockout, API tokens
PARVIS_SESSION_IDLE_SECONDS = env.int("PARVIS_SESSION_IDLE_SECONDS", default=60 * 60 * 2)
PARVIS_REAUTH_SECONDS = env.int("PARVIS_REAUTH_SECONDS", default=15 * 60)
PARVIS_API_TOKEN_MAX_DAYS = env.int("PARVIS_API_TOKEN_MAX_DAYS", default=365)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out login before checking it
    "django.contrib.auth.backends.ModelBackend",
]
# Off in the in-process tests (many log in with the test client, which gives no request);
# tests/access turn it on to check the lockout itself.
AXES_ENABLED = env.bool("PARVIS_LOGIN_LOCKOUT", default=not TESTING)
AXES_FAILURE_LIMIT = env.int("PARVIS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PARVIS_LOGIN_COOLOFF_MINUTES", default=15))
# One address failing on one account is locked; other people behind the same NAT (a town
# hall) are not, and nobody can lock an agent out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "access/lockout.html"
AXES_USERNAME_CALLABLE = "access.lockout.username_of"
AXES_CLIENT_IP_CALLABLE = "access.lockout.client_ip"
AXES_VERBOSE = False
OTP_TOTP_ISSUER = env.str("PARVIS_TOTP_ISSUER", default="Parvis")
OTP_TOTP_THROTTLE_FACTOR = 1  # django-otp: each wrong code doubles the wait before the next
PARVIS_SANDBOX_LATENCY_MS = env.int("PARVIS_SANDBOX_LATENCY_MS", default=0)
PARVIS_PUBLISH_LEASE_SECONDS = env.int("PARVIS_PUBLISH_LEASE_SECONDS", default=300)
PARVIS_PUBLISH_BACKOFF_SECONDS = env.float("PARVIS_PUBLISH_BACKOFF_SECONDS", default=15.0)
PARVIS_PUBLISH_BATCH_SIZE = env.int("PARVIS_PUBLISH_BATCH_SIZE", default=20)
PARVIS_DISPATCH_MAX_IN_FLIGHT = env.int("PARVIS_DISPATCH_MAX_IN_FLIGHT", default=1000)
# How often an open inbox page asks whether new messages came.
PARVIS_INBOX_POLL_SECONDS = env.int("PARVIS_INBOX_POLL_SECONDS", default=30)
INVITATION_VALIDITY = timedelta(days=env.int("PARVIS_INVITATION_DAYS", default=7))
# How long the audit trail keeps an event (docs/security.md: one year, as the LCEN decree
# n° 2011-219 asks for connection data); the daily purge is the only way rows leave.
PARVIS_AUDIT_RETENTION_DAYS = env.int("PARVIS_AUDIT_RETENTION_DAYS", default=365)
if PARVIS_AUDIT_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("PARVIS_AUDIT_RETENTION_DAYS must be at least 1.")

# --- Internationalisation ---------------------------------------------------------------------

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("Anglais"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Paris")  # display default; storage is UTC

# --- Static and media -------------------------------------------------------------------------

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Largest file accepted per kind, in bytes ("document": CSV and other imports; 20 Mo is
# 20 × 1024² bytes, as messages show it); a reverse proxy in front must accept at least
# the largest (client_max_body_size in nginx).
PARVIS_UPLOAD_MAX_BYTES: dict[str, int] = {
    "image": env.int("PARVIS_MAX_IMAGE_BYTES", default=20 * 1024 * 1024),
    "video": env.int("PARVIS_MAX_VIDEO_BYTES", default=500 * 1024 * 1024),
    "document": env.int("PARVIS_MAX_DOCUMENT_BYTES", default=10 * 1024 * 1024),
}
# Decoded size limit of an uploaded image, all frames of an animation together: a small
# file that would decode to gigabytes (a decompression bomb) is refused before decoding.
PARVIS_MAX_IMAGE_PIXELS = env.int("PARVIS_MAX_IMAGE_PIXELS", default=60_000_000)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
# Outside DEBUG and tests, pages need `collectstatic` (the Docker image runs it at build).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- E-mail -----------------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
globals().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Parvis <ne-pas-repondre@parvis.localhost>"
)
PARVIS_BASE_URL = env.str("PARVIS_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Social networks' app credentials (docs/networks.md) ------------------------------------
# A network whose app credentials are missing shows as "not configured" with what to set.

PARVIS_NETWORK_APPS: dict[str, dict[str, str]] = {
    "facebook": {
        "client_id": env.str("META_APP_ID", default=""),
        "client_secret": env.str("META_APP_SECRET", default=""),
        "webhook_verify_token": env.str("META_WEBHOOK_VERIFY_TOKEN", default=""),
    },
    "instagram": {
        "client_id": env.str("META_APP_ID", default=""),
        "client_secret": env.str("META_APP_SECRET", default=""),
    },
    "x": {
        "client_id": env.str("X_CLIENT_ID", default=""),
        "client_secret": env.str("X_CLIENT_SECRET", default=""),
    },
    "linkedin": {
        "client_id": env.str("LINKEDIN_CLIENT_ID", default=""),
        "client_secret": env.str("LINKEDIN_CLIENT_SECRET", default=""),
        "scopes": env.str("LINKEDIN_SCOPES", default=""),
    },
    "mastodon": {"client_name": env.str("MASTODON_CLIENT_NAME", default="Parvis")},
    "bluesky": {},
    "sandbox": {},
}

# --- Security ---------------------------------------------------------------------------------

# Production is served over HTTPS, and PARVIS_BASE_URL says so: with an https:// base URL
# (and DEBUG off) cookies are Secure, HSTS is on, plain HTTP is redirected and the TLS
# proxy's X-Forwarded-Proto is trusted, unless a variable below says otherwise. The
# embedded default (http://127.0.0.1:8000, `make run`) keeps them all off. docs/security.md.
PARVIS_HTTPS = PARVIS_BASE_URL.startswith("https://") and not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: the networks send the admin back to the OAuth callback with a top-level
# GET from their own site, and the session (holding the OAuth state) must come along.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PARVIS_HTTPS)
# Load balancers may probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=PARVIS_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PARVIS_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# Preloading commits the whole registrable domain (often the town's own, ville-x.fr) in
# browsers' lists: the collectivité decides, not Parvis; hence security.W021 is silenced.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS: list[str] = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("BEHIND_TLS_PROXY", default=PARVIS_HTTPS)
    else None
)
# Content-Security-Policy (config/security.py): scripts and styles from our own origin only,
# no inline code, no eval; images also as data: URIs (the small SVG icons that vendored
# stylesheets inline, e.g. the API docs' Swagger UI). Add a source here only with a reason
# written next to it.
PARVIS_CSP: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
# Where browsers report violations (logged at WARNING, without personal data); "" for none.
PARVIS_CSP_REPORT_URI = env.str("PARVIS_CSP_REPORT_URI", default="/csp-report/")
PARVIS_PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}

# --- API --------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Authorization: Bearer <API key or personal token> (access/authentication.py).
        # First, so that a request without valid credentials is answered 401 with
        # "WWW-Authenticate: Bearer" (RFC 6750), not 403; without the header it steps
        # aside for the session.
        "access.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["access.throttling.CredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("PARVIS_API_KEY_RATE", default="1200/hour"),
        "personal_token": env.str("PARVIS_PERSONAL_TOKEN_RATE", default="1200/hour"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Parvis API",
    "DESCRIPTION": "API des collectivités : comptes, lignes éditoriales, publics, charte, membres.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "NetworkEnum": "networks.registry.Network",
        "SocialAccountStatusEnum": "collectivites.models.SocialAccount.Status",
        "VariantStateEnum": "publishing.models.Variant.State",
        "InboxStatusEnum": "monitoring.models.InboxItem.Status",
        "ReplyStateEnum": "monitoring.models.Reply.State",
        "AuditActionEnum": "audit.models.Action",
        "InboxStatusChangeEnum": ["nouveau", "en_attente", "clos"],
    },
}

# --- Logging ----------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every URL at INFO: signed upload URLs must not reach the logs.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Graph API calls carry the page token in the query string.
        "urllib3": {"level": "WARNING"},
        "tweepy": {"level": "WARNING"},
        # WeasyPrint (the monthly PDF) logs each step and each font subset at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

if os.environ.get("PARVIS_PASSWORD_HASHER_FAST"):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
