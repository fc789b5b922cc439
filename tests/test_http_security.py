"""HTTP hardening (issue 7, item 4): the headers on pages, the API and static files; the
Content-Security-Policy itself; cookies; CSRF everywhere but where a signature or nothing
at all is at stake; the CSP report endpoint; `check --deploy` under production values; and
no inline script or event handler in any template (the CSP would block them)."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import get_resolver

from tests.conftest import World
from tests.test_url_isolation import _walk

BASE_DIR = Path(settings.BASE_DIR)
EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "report-uri /csp-report/"
)


def _assert_hardened(response: Any, *, framed: bool = True) -> None:
    assert response["Content-Security-Policy"] == EXPECTED_CSP
    if framed:  # static files are not framed pages: their CSP's frame-ancestors suffices
        assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions


# --- the headers --------------------------------------------------------------------------


def test_the_csp_has_no_unsafe_source() -> None:
    assert "unsafe" not in EXPECTED_CSP  # neither 'unsafe-inline' nor 'unsafe-eval'
    assert "*" not in EXPECTED_CSP


@pytest.mark.django_db
def test_public_pages_are_hardened(client: Client) -> None:
    response = client.get("/connexion/")
    assert response.status_code == 200
    _assert_hardened(response)


def test_tenant_pages_are_hardened(world: World) -> None:
    response = world.client(world.members["redacteur"]).get("/c/ville-a/publications/")
    assert response.status_code == 200
    _assert_hardened(response)


def test_errors_are_hardened(world: World) -> None:
    response = world.client(world.outsider).get("/c/ville-a/publications/")
    assert response.status_code == 404
    _assert_hardened(response)


def test_the_api_is_hardened(world: World) -> None:
    response = world.client(world.members["redacteur"]).get("/api/v1/c/ville-a/publications/")
    assert response.status_code == 200
    _assert_hardened(response)


def test_static_files_are_hardened(client: Client) -> None:
    response = client.get("/static/css/parvis.css")
    assert response.status_code == 200
    _assert_hardened(response, framed=False)


@pytest.mark.django_db
def test_the_api_docs_load_their_start_up_code_as_a_file(client: Client, world: World) -> None:
    """drf-spectacular's split view: the page has no inline script or style; the code it
    loads is served as JavaScript from the same origin."""
    member = world.client(world.members["lecteur"])
    page = member.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert _inline_scripts(html) == []
    assert "<style" not in html
    script = re.search(r'<script src="([^"]*script=[^"]*)"', html)
    assert script is not None
    code = member.get(script.group(1).replace("&amp;", "&"))
    assert code.status_code == 200
    assert code["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in code.content.decode()


def test_the_account_connection_form_may_lead_to_the_network(world: World) -> None:
    """Only this admin page lets its form end on another (https) origin: the network's
    authorization page. Everything else in its policy is the site's."""
    response = world.client(world.members["admin"]).get("/c/ville-a/comptes/connecter/mastodon/")
    assert response.status_code == 200
    expected = EXPECTED_CSP.replace("form-action 'self'", "form-action 'self' https:")
    assert response["Content-Security-Policy"] == expected


# --- cookies and CSRF ----------------------------------------------------------------------


def test_session_and_csrf_cookies(world: World) -> None:
    client = Client()
    page = client.get("/connexion/")
    csrf = page.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"
    user = world.members["lecteur"]
    user.set_password("un mot de passe solide")
    user.save()
    response = client.post(
        "/connexion/",
        {"username": user.email, "password": "un mot de passe solide"},
    )
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


def test_forms_and_the_api_refuse_a_post_without_csrf_token(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.members["redacteur"])
    page = client.post("/c/ville-a/publications/nouvelle/", {"title": "x"})
    assert page.status_code == 403
    api = client.post("/api/v1/c/ville-a/publications/", {"title": "x"})
    assert api.status_code == 403


# Views that take a POST without a CSRF token, each for a reason. DRF views are exempt from
# Django's middleware but check CSRF themselves for session-authenticated requests (above).
CSRF_EXEMPT = {
    "webhook_meta": "Meta's servers post here; the X-Hub-Signature-256 HMAC is checked",
    "csp_report": "browsers post reports without a token; the view only logs",
}


def test_csrf_is_exempted_only_where_listed() -> None:
    exempt = {
        r.name
        for r in _walk(get_resolver().url_patterns)
        if getattr(r.callback, "csrf_exempt", False) and not hasattr(r.callback, "cls")
    }
    assert exempt == set(CSRF_EXEMPT)


# --- the CSP report endpoint ---------------------------------------------------------------


def test_a_csp_report_is_logged_without_personal_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = {
        "csp-report": {
            "document-uri": "https://parvis.example.fr/c/ville-a/boite/?q=Jeanne+Martin",
            "violated-directive": "script-src-elem",
            "effective-directive": "script-src-elem",
            "blocked-uri": "https://evil.example/steal.js?who=jeanne.martin@example.fr",
            "source-file": "https://parvis.example.fr/static/js/calendar.js",
            "line-number": 12,
        }
    }
    client = Client(enforce_csrf_checks=True)
    with caplog.at_level(logging.WARNING, logger="parvis.csp"):
        response = client.post(
            "/csp-report/", json.dumps(report), content_type="application/csp-report"
        )
    assert response.status_code == 204
    [record] = [r for r in caplog.records if r.name == "parvis.csp"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "page=/c/ville-a/boite/" in message
    assert "directive=script-src-elem" in message
    assert "blocked=https://evil.example " in message
    assert "source=/static/js/calendar.js" in message
    assert "Jeanne" not in message and "jeanne" not in message


def test_reporting_api_bodies_and_inline_violations(caplog: pytest.LogCaptureFixture) -> None:
    body = [
        {
            "type": "csp-violation",
            "body": {
                "documentURL": "http://testserver/c/ville-a/",
                "effectiveDirective": "script-src-attr",
                "blockedURL": "inline",
            },
        }
    ]
    with caplog.at_level(logging.WARNING, logger="parvis.csp"):
        response = Client().post(
            "/csp-report/", json.dumps(body), content_type="application/reports+json"
        )
    assert response.status_code == 204
    assert "directive=script-src-attr blocked=inline" in caplog.text


@pytest.mark.parametrize(
    ("body", "status"),
    [("not json", 400), ("[1, 2]", 204), ('{"other": 1}', 400), ("x" * 20_000, 413)],
)
def test_bad_csp_reports_are_refused_quietly(body: str, status: int) -> None:
    response = Client().post("/csp-report/", body, content_type="application/json")
    assert response.status_code == status


def test_the_csp_report_endpoint_takes_only_posts() -> None:
    assert Client().get("/csp-report/").status_code == 405


# --- production settings -------------------------------------------------------------------


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """What docs/deployment.md asks production to set, and nothing from this test run."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env.update(
        PARVIS_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY=secrets.token_urlsafe(50),
        PARVIS_ENCRYPTION_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        PARVIS_BASE_URL="https://parvis.example.fr",
        ALLOWED_HOSTS="parvis.example.fr",
        CSRF_TRUSTED_ORIGINS="https://parvis.example.fr",
        DEBUG="false",
        PARVIS_TESTING="false",
    )
    env.update(extra)
    return env


_SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({k: getattr(s, k) for k in (
    "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_PROXY_SSL_HEADER",
)}))
"""


def _settings_under(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _SHOW_SETTINGS],
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.core.management import call_command; "
            "call_command('check', deploy=True, fail_level='WARNING')",
        ],
        cwd=BASE_DIR,
        env={**_production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout


def test_an_https_base_url_turns_on_production_security(tmp_path: Path) -> None:
    values = _settings_under(_production_env(tmp_path))
    assert values == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_each_production_default_can_still_be_set(tmp_path: Path) -> None:
    env = _production_env(
        tmp_path, SECURE_HSTS_SECONDS="3600", BEHIND_TLS_PROXY="false", SECURE_COOKIES="true"
    )
    values = _settings_under(env)
    assert values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["SESSION_COOKIE_SECURE"] is True


def test_the_embedded_default_stays_plain_http(tmp_path: Path) -> None:
    """`make run` serves http://127.0.0.1:8000: no redirection, no Secure cookie, no HSTS
    (a browser would then refuse the plain-HTTP site for a year)."""
    env = _production_env(tmp_path)
    for name in ("SECRET_KEY", "PARVIS_ENCRYPTION_KEYS", "PARVIS_BASE_URL", "ALLOWED_HOSTS"):
        env.pop(name)
    values = _settings_under(env)
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None


# --- templates: nothing inline for the CSP to block -----------------------------------------

SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["'{]""", re.IGNORECASE)
JS_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']\s*javascript:""", re.I)
HX_ON = re.compile(r"\s(?:data-)?hx-on[:\-]", re.IGNORECASE)
STYLE_ATTR = re.compile(r"""\sstyle\s*=\s*["']""", re.IGNORECASE)


def _inline_scripts(html: str) -> list[str]:
    return [tag for tag in SCRIPT_TAG.findall(html) if not re.search(r"\ssrc\s*=", tag)]


def _templates() -> list[Path]:
    roots = [BASE_DIR / "templates", *sorted(BASE_DIR.glob("*/templates"))]
    found = sorted({p for root in roots for p in root.rglob("*.html")})
    assert len(found) > 20, "the scan must see the templates"
    return found


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        (None, "inline <script> (move the code to static/js/)"),
        (EVENT_HANDLER, "inline event handler (use addEventListener in static/js/)"),
        (JS_URL, "javascript: URL"),
        (HX_ON, "hx-on attribute (evaluated code; htmx runs with allowEval false)"),
        (STYLE_ATTR, "style attribute (use a class in static/css/)"),
    ],
    ids=["script", "on-handler", "javascript-url", "hx-on", "style-attr"],
)
def test_no_template_has_inline_code(pattern: re.Pattern[str] | None, what: str) -> None:
    offenders = []
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        hits = _inline_scripts(text) if pattern is None else pattern.findall(text)
        offenders += [f"{path.relative_to(BASE_DIR)}: {hit.strip()}" for hit in hits]
    assert offenders == [], f"{what}:\n" + "\n".join(offenders)


def test_the_scan_would_catch_inline_code() -> None:
    assert _inline_scripts('<script>alert(1)</script><script src="/s.js" defer></script>') == [
        "<script>"
    ]
    assert EVENT_HANDLER.search('<button onclick="go()">')
    assert not EVENT_HANDLER.search('<p class="once">on="x"</p>')
    assert JS_URL.search('<a href="javascript:void(0)">')
    assert HX_ON.search('<div hx-on:click="x()">')
    assert STYLE_ATTR.search('<p style="color: red">')


def test_htmx_is_configured_for_the_csp(client: Client) -> None:
    html = client.get("/connexion/").content.decode()
    meta = re.search(r"""<meta name="htmx-config" content='([^']*)'>""", html)
    assert meta is not None
    config = json.loads(meta.group(1))
    assert config == {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
    }
