from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_ok(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_503_when_the_broker_is_down(client: Any, monkeypatch: Any) -> None:
    from config.celery import app

    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"
    assert response.json()["database"] == "ok"


def test_healthz_503_when_the_database_is_down(client: Any, monkeypatch: Any) -> None:
    from django.db.backends.base.base import BaseDatabaseWrapper

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError("database unreachable")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_the_openapi_schema_is_valid_and_has_no_warnings() -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out, stderr=StringIO())
    assert "/api/v1/c/{collectivite_slug}/inbox/" in out.getvalue()
