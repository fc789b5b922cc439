"""Every URL of the project, found by walking the resolver (a new page is covered the day it
is added): a member of collectivité B gets 404 on everything of A, a role without the
capability gets 403, an anonymous visitor goes to the login page (pages) or is refused
(API). A URL outside ``/c/<slug>/`` must be listed in ``NOT_TENANT`` on purpose."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from collectivites.permissions import Role, roles_with

pytestmark = pytest.mark.django_db

# URLs that are not a collectivité's, each for a reason.
NOT_TENANT = {
    "home": "redirects to the member's own collectivité",
    "healthz": "public probe, no data",
    "csp_report": "browsers post CSP violation reports here; logged, nothing stored",
    "set_language": "Django's language switch",
    "invitation_accept": "the token is the credential",
    "login": "public",
    "logout": "public",
    "password_reset": "public",
    "password_reset_done": "public",
    "password_reset_confirm": "public, token in URL",
    "password_reset_complete": "public",
    "password_change": "the signed-in person's own password",
    "password_change_done": "the signed-in person's own password",
    "oauth_callback": "networks return here; the state in the session names the collectivité",
    "media_public": "a signed, day-long link for the networks that fetch media by URL",
    "webhook_meta": "Meta posts here; the body's signature is the credential",
    "service_answer": "a service answers through the signed, dated link of its e-mail",
    "sandbox_post": "the sandbox network's public post page, as a network shows a post",
    "api_schema": "schema, authenticated",
    "api_docs": "schema viewer, authenticated",
    "api:collectivite-list": "the caller's own memberships only",
    "api:collectivite-detail": "the caller's own memberships only",
    "login_code": "the login's second step (a pending login in the session)",
    "reauth": "the signed-in person confirms their own password",
    "account_security": "the signed-in person's own 2FA and tokens",
    "two_factor_enrol": "the signed-in person's own 2FA",
    "two_factor_disable": "the signed-in person's own 2FA (fresh password first)",
    "recovery_codes_regenerate": "the signed-in person's own codes (fresh password first)",
    "personal_token_create": "the signed-in person's own tokens (fresh password first)",
    "personal_token_revoke": "the signed-in person's own tokens only (404 otherwise)",
    "api:personal-token-list": "the caller's own tokens only",
    "api:personal-token-detail": "the caller's own tokens only",
    "api:personal-token-revoke": "the caller's own tokens only",
}
METHODS = ["get", "post", "put", "patch", "delete"]


@dataclass
class Route:
    name: str
    route: str
    callback: Any

    @property
    def is_api(self) -> bool:
        return hasattr(self.callback, "cls")

    def url(self, slug: str) -> str:
        def value(match: re.Match[str]) -> str:
            converter, name = match.group(1) or "str", match.group(2)
            if name == "collectivite_slug":
                return slug
            if converter == "int" or name in {"pk", "user_id"}:
                return "999999"
            return "x"

        # DRF routers use regexes: ^accounts/(?P<pk>[^/.]+)/$ -- replace those groups first.
        path = re.sub(
            r"\(\?P<(\w+)>[^)]*\)",
            lambda m: slug if m.group(1) == "collectivite_slug" else "999999",
            self.route,
        )
        path = re.sub(r"<(?:(\w+):)?(\w+)>", value, path)
        path = path.replace("^", "").replace("$", "").replace("\\.", ".")
        return "/" + path

    def capability(self, method: str) -> str | None:
        if self.is_api:
            cls = self.callback.cls
            if method == "get":
                return getattr(cls, "read_capability", None)
            return getattr(cls, "write_capability", None)
        view_class = getattr(self.callback, "view_class", None)
        if view_class is not None:
            return getattr(view_class, "capability", None)
        return getattr(self.callback, "capability", None)


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> list[Route]:
    routes: list[Route] = []
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}{p.namespace}:"
            routes += _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}{p.name}" if p.name else ""
            routes.append(Route(name=name, route=prefix + str(p.pattern), callback=p.callback))
    return routes


# The Django admin is for platform staff only (is_staff); tested separately below.
ALL = [r for r in _walk(get_resolver().url_patterns) if not r.route.startswith("admin/")]
TENANT = [r for r in ALL if "collectivite_slug" in r.route]
OTHERS = [r for r in ALL if "collectivite_slug" not in r.route]


def test_the_walk_finds_the_pages_and_the_api() -> None:
    names = {r.name for r in TENANT}
    assert {"collectivite_overview", "editorial_line_update", "api:account-list"} <= names
    assert len(TENANT) > 30


@pytest.mark.parametrize("route", OTHERS, ids=lambda r: r.name or r.route)
def test_every_url_outside_a_collectivite_is_deliberate(route: Route) -> None:
    assert route.name in NOT_TENANT, f"{route.route} is neither under /c/<slug>/ nor listed"


@pytest.mark.parametrize("route", TENANT, ids=lambda r: r.name)
def test_every_tenant_url_declares_its_capability(route: Route) -> None:
    for method in METHODS:
        cap = route.capability(method)
        assert cap, f"{route.name} ({method}) declares no capability"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", TENANT, ids=lambda r: r.name)
def test_member_of_another_collectivite_gets_404(world: Any, route: Route, method: str) -> None:
    client = world.client(world.outsider)
    response = getattr(client, method)(route.url(world.a.slug))
    assert response.status_code == 404, response.content[:300]


@pytest.mark.parametrize("route", TENANT, ids=lambda r: r.name)
def test_head_and_options_are_404_to_another_collectivite_s_member(
    world: Any, route: Route
) -> None:
    """HEAD and OPTIONS (DRF answers OPTIONS with metadata) reveal nothing either."""
    client = world.client(world.outsider)
    for method in ("head", "options"):
        response = getattr(client, method)(route.url(world.a.slug))
        assert response.status_code == 404, (method, response.content[:300])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", TENANT, ids=lambda r: r.name)
def test_unknown_collectivite_is_404_too(world: Any, route: Route, method: str) -> None:
    client = world.client(world.members[Role.ADMIN])
    response = getattr(client, method)(route.url("nexiste-pas"))
    assert response.status_code == 404


def _denied_roles(route: Route, method: str) -> list[str]:
    allowed = set(roles_with(route.capability(method) or ""))
    return [role for role in Role.values if role not in allowed]


# Routes whose capability every role holds (reading the overview, say) have no 403 to check.
RESTRICTED = [
    (route, method) for route in TENANT for method in METHODS if _denied_roles(route, method)
]


@pytest.mark.parametrize(("route", "method"), RESTRICTED, ids=lambda v: getattr(v, "name", v))
def test_role_without_the_capability_gets_403(world: Any, route: Route, method: str) -> None:
    for role in _denied_roles(route, method):
        client = world.client(world.members[role])
        response = getattr(client, method)(route.url(world.a.slug))
        assert response.status_code == 403, (role, response.status_code)


def test_some_routes_are_open_to_every_role_and_most_are_not() -> None:
    assert 0 < len(RESTRICTED) < len(TENANT) * len(METHODS)


@pytest.mark.parametrize("route", TENANT, ids=lambda r: r.name)
def test_anonymous_visitor(client: Any, world: Any, route: Route) -> None:
    url = route.url(world.a.slug)
    response = client.get(url)
    if route.is_api:
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/connexion/?next=")


def test_api_answers_404_in_json_for_non_members(world: Any) -> None:
    response = world.client(world.outsider).get(f"/api/v1/c/{world.a.slug}/accounts/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_django_admin_is_for_staff_only(world: Any) -> None:
    response = world.client(world.members[Role.ADMIN]).get("/admin/collectivites/socialaccount/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
