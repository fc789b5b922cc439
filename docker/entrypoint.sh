#!/bin/sh
# Entrypoint of the Parvis image (web, worker, beat, one-off commands).
#
# Production refuses to start without the settings that every container must share.
# Without them settings.py would fall back to the embedded default: SQLite, a filesystem
# broker, and a SECRET_KEY and encryption key generated per container, so that each
# replica would sign sessions and encrypt credentials with keys the others lack.
set -eu

missing=""
for name in SECRET_KEY PARVIS_ENCRYPTION_KEYS DATABASE_URL CELERY_BROKER_URL; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        missing="$missing $name"
    fi
done
if [ -n "$missing" ]; then
    echo "parvis: missing environment variable(s):$missing (see .env.example and docs/deployment.md)" >&2
    exit 78
fi

# settings.py only reads the key list; a malformed key would surface at the first
# encryption. Check it now, so that a bad .env stops every container at start.
python - <<'PY' || exit 78
import os
import sys

from cryptography.fernet import Fernet

keys = [k.strip() for k in os.environ["PARVIS_ENCRYPTION_KEYS"].split(",") if k.strip()]
try:
    if not keys:
        raise ValueError("empty")
    for key in keys:
        Fernet(key.encode())
except (ValueError, TypeError):
    sys.exit("parvis: PARVIS_ENCRYPTION_KEYS must be comma-separated Fernet keys, newest first.")
PY

exec "$@"
