"""Schemathesis over every operation of the OpenAPI schema, in-process (WSGI): signed in
as a member holding every role of collectivité A, with data in A and in B, no request may
end in a server error, and no response may carry anything of B.

A fixed, small number of examples per operation with a derandomised generator keeps the
run short and repeatable. Path ids are drawn from A's and B's real rows (so details,
updates and deletions reach real objects, and B's ids are tried under A's slug) as often
as from the generator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from collectivites.permissions import Role
from monitoring.models import Citizen, InboxItem, SavedReply
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.schemathesis]

EXAMPLES_PER_OPERATION = 8
B_MARKER = "zqxb-secret"  # in every text of B's rows


def _openapi_document() -> dict[str, Any]:
    """The document /api/v1/schema/ serves (checked to be the same below)."""
    generator = SchemaGenerator()
    return json.loads(OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True)))


DOCUMENT = _openapi_document()
# The fuzzing phase only, a fixed number of examples, derandomised: the same run each time.
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
schema.app = WSGIHandler()


def _seed(collectivite: Any, author: Any, marker: str) -> dict[str, list[int]]:
    """Accounts, lines, audiences, periods, a charter, publications with variants and
    media, inbox items, saved replies, invitations: one of each at least."""
    account = factories.SocialAccountFactory(
        collectivite=collectivite, handle=f"@{marker}", display_name=f"Compte {marker}"
    )
    line = factories.EditorialLineFactory(account=account, tone=f"Ton {marker}")
    audience = factories.AudienceFactory(collectivite=collectivite, name=f"Public {marker}")
    period = factories.ElectionPeriodFactory(collectivite=collectivite, label=f"Vote {marker}")
    factories.ModerationCharterFactory(collectivite=collectivite, public_text=f"Charte {marker}")
    publication = factories.PublicationFactory(
        collectivite=collectivite, title=f"Publication {marker}", author=author
    )
    variant = factories.VariantFactory(
        publication=publication, account=account, text=f"Texte {marker}"
    )
    media = factories.MediaAssetFactory(collectivite=collectivite, alt_text=f"Image {marker}")
    citizen = Citizen.objects.create(
        collectivite=collectivite,
        network="sandbox",
        external_id=f"cit-{marker}",
        handle=f"@citoyen-{marker}",
        display_name=f"Citoyen {marker}",
    )
    item = InboxItem.objects.create(
        collectivite=collectivite,
        account=account,
        network="sandbox",
        kind="comment",
        external_id=f"item-{marker}",
        citizen=citizen,
        text=f"Commentaire {marker}",
        created_at=timezone.now(),
    )
    saved = SavedReply.objects.create(
        collectivite=collectivite, title=f"Réponse {marker}", text=f"Bonjour {marker}"
    )
    invitation = factories.InvitationFactory(
        collectivite=collectivite, email=f"{marker}@invite.example"
    )
    return {
        "ids": [
            account.pk,
            line.pk,
            audience.pk,
            period.pk,
            publication.pk,
            variant.pk,
            media.pk,
            item.pk,
            saved.pk,
            invitation.pk,
            author.pk,
        ]
    }


@pytest.fixture
def in_process() -> Iterator[None]:
    """As Django's test client does: the WSGI handler must not close the test's database
    connection at the end of each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def two_tenants(world: Any, in_process: None) -> dict[str, Any]:
    member = factories.UserFactory(email="tous-les-roles@a.example")
    for role in Role.values:
        factories.MembershipFactory(collectivite=world.a, user=member, role=role)
    a = _seed(world.a, member, "ville-a-data")
    b = _seed(world.b, world.outsider, B_MARKER)
    client = Client()
    client.force_login(member)
    csrf = _get_new_csrf_string()
    return {
        "slug": world.a.slug,
        "ids": a["ids"] + b["ids"],
        "b_markers": [B_MARKER, world.b.slug, world.b.name, world.outsider.email],
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
        "headers": {"X-CSRFToken": csrf},
        "client": client,
    }


def test_the_fuzzed_document_is_the_served_one(two_tenants: dict[str, Any]) -> None:
    served = two_tenants["client"].get("/api/v1/schema/", {"format": "json"})
    assert served.status_code == 200
    assert json.loads(served.content)["paths"].keys() == DOCUMENT["paths"].keys()
    assert len(DOCUMENT["paths"]) > 20
    # the markers are where the API shows them: A's own data comes back, so B's would be seen
    accounts = two_tenants["client"].get(f"/api/v1/c/{two_tenants['slug']}/accounts/")
    assert b"ville-a-data" in accounts.content


_counter = {"n": 0}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_nothing_of_b(case: Any, two_tenants: dict[str, Any]) -> None:
    params = case.path_parameters or {}
    if "collectivite_slug" in params:
        params["collectivite_slug"] = two_tenants["slug"]
    for name in ("pk", "id", "user_id"):
        if name in params:
            # every other example: a real row of A or B (deterministic)
            _counter["n"] += 1
            if _counter["n"] % 2:
                ids = two_tenants["ids"]
                params[name] = ids[_counter["n"] % len(ids)]
    response = case.call(cookies=two_tenants["cookies"], headers=two_tenants["headers"])
    where = (case.method, case.formatted_path, case.query, response.content[:500])
    assert response.status_code < 500, where
    # bytes: some answers are PDF or CSV (in JSON, non-ASCII text may also be escaped)
    body = response.content
    for marker in two_tenants["b_markers"]:
        for form in {marker.encode(), json.dumps(marker)[1:-1].encode()}:
            assert form not in body, (*where, marker)
