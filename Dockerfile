# syntax=docker/dockerfile:1
# Parvis production image: gunicorn (web), Celery worker and beat all run from it.
# See docs/deployment.md. Build: docker compose build (or: docker build -t parvis .)

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# WeasyPrint (the monthly PDF report) draws text with Pango; fonts for French text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
       libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject.toml alone, so that code changes reuse this layer.
# pyproject sets `packages = []`: `pip install .` installs the dependencies only; the code
# runs from /app below.
COPY pyproject.toml /tmp/parvis/pyproject.toml
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install --upgrade pip \
    && pip install /tmp/parvis \
    && rm -rf /tmp/parvis

# An unprivileged user; the code stays owned by root (read-only for the app). The home
# directory is writable (gunicorn puts its control socket under ~/.gunicorn).
RUN groupadd --system --gid 1000 parvis \
    && useradd --system --uid 1000 --gid parvis --home-dir /home/parvis --create-home \
       --shell /usr/sbin/nologin parvis \
    && mkdir -p /var/lib/parvis/media \
    && chown -R parvis:parvis /var/lib/parvis

WORKDIR /app
COPY . /app
RUN chmod 0755 /app/docker/entrypoint.sh

# PARVIS_VAR_DIR holds runtime state (beat's schedule file); MEDIA_ROOT is a volume in
# docker-compose.yml (both directories exist above, owned by parvis, so named volumes
# mounted there start with the right owner). Static files are baked into the image.
ENV DJANGO_SETTINGS_MODULE=config.settings \
    PARVIS_VAR_DIR=/var/lib/parvis \
    MEDIA_ROOT=/var/lib/parvis/media \
    STATIC_ROOT=/app/staticfiles \
    WEB_CONCURRENCY=2

# Static files at build time. Without SECRET_KEY and Fernet keys, settings would generate
# them into PARVIS_VAR_DIR: dummy values on this RUN line only, never used at run time (the
# entrypoint demands real ones). No database is touched (DATABASE_URL unset: SQLite under a
# throw-away PARVIS_VAR_DIR).
RUN SECRET_KEY=build-only-not-a-secret \
    PARVIS_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    PARVIS_VAR_DIR=/tmp/parvis-build \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/parvis-build

USER parvis:parvis
EXPOSE 8000

# Asks /healthz (database and broker) the way the proxy would: with a Host that
# ALLOWED_HOSTS accepts and X-Forwarded-Proto so SECURE_SSL_REDIRECT does not redirect.
# Worker and beat containers override this in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as u;h=os.environ.get('ALLOWED_HOSTS','127.0.0.1').split(',')[0].strip().lstrip('.');h='localhost' if h in ('','*') else h;u.urlopen(u.Request('http://127.0.0.1:8000/healthz',headers={'Host':h,'X-Forwarded-Proto':'https'}),timeout=8)"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
# Workers: WEB_CONCURRENCY (read by gunicorn itself). More flags: GUNICORN_CMD_ARGS.
CMD ["gunicorn", "config.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--worker-tmp-dir", "/dev/shm", \
     "--timeout", "60", \
     "--graceful-timeout", "30", \
     "--max-requests", "2000", \
     "--max-requests-jitter", "200", \
     "--access-logfile", "-"]
