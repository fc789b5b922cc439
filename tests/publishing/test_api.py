"""Publications through /api/v1/: same workflow, tenancy and capabilities as the pages."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from collectivites.permissions import Role
from tests import factories

pytestmark = pytest.mark.django_db


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_write_submit_approve_through_the_api(world: Any) -> None:
    account = factories.SocialAccountFactory(collectivite=world.a, network="sandbox")
    writer = api(world.members[Role.REDACTEUR])
    base = f"/api/v1/c/{world.a.slug}/publications/"
    created = writer.post(
        base,
        {
            "title": "Travaux rue Pasteur",
            "text": "La rue Pasteur sera fermée du 3 au 7 mars.",
            "accounts": [account.pk],
            "scheduled_at": "2027-03-02T08:00:00Z",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    (variant,) = body["variants"]
    assert variant["state"] == "draft" and variant["network"] == "sandbox"
    assert variant["characters"]["count"] == len("La rue Pasteur sera fermée du 3 au 7 mars.")

    pk = body["id"]
    assert writer.post(f"{base}{pk}/approve/").status_code == 403
    assert writer.post(f"{base}{pk}/submit/").json()["variants"][0]["state"] == "in_review"
    approved = api(world.members[Role.VALIDATEUR]).post(f"{base}{pk}/approve/", {"comment": "OK"})
    assert approved.json()["variants"][0]["state"] == "approved"
    assert [r["decision"] for r in approved.json()["reviews"]] == ["submitted", "approved"]

    variants = api(world.members[Role.LECTEUR])
    assert variants.get(base).status_code == 403


def test_send_back_without_comment_is_a_400(world: Any) -> None:
    variant = factories.VariantFactory(
        publication__collectivite=world.a,
        account=factories.SocialAccountFactory(collectivite=world.a),
        state="in_review",
    )
    url = f"/api/v1/c/{world.a.slug}/publications/{variant.publication_id}/send-back/"
    response = api(world.members[Role.VALIDATEUR]).post(url, {"comment": ""}, format="json")
    assert response.status_code == 400
    assert "Expliquez" in str(response.json())


def test_variants_window_and_edit(world: Any) -> None:
    account = factories.SocialAccountFactory(collectivite=world.a)
    inside = factories.VariantFactory(
        publication__collectivite=world.a, account=account, scheduled_at="2027-01-10T09:00:00Z"
    )
    factories.VariantFactory(
        publication__collectivite=world.a, account=account, scheduled_at="2027-02-10T09:00:00Z"
    )
    client = api(world.members[Role.REDACTEUR])
    base = f"/api/v1/c/{world.a.slug}/variants/"
    listed = client.get(
        base, {"start": "2027-01-01T00:00:00+00:00", "end": "2027-02-01T00:00:00+00:00"}
    )
    assert [v["id"] for v in listed.json()["results"]] == [inside.pk]
    assert client.get(base, {"start": "pas une date"}).status_code == 400
    edited = client.patch(f"{base}{inside.pk}/", {"text": "Nouveau texte"}, format="json")
    assert edited.json()["text"] == "Nouveau texte"
    assert client.post(f"{base}{inside.pk}/cancel/").json()["state"] == "cancelled"


def test_accounts_of_another_collectivite_are_refused(world: Any) -> None:
    foreign = factories.SocialAccountFactory(collectivite=world.b)
    response = api(world.members[Role.REDACTEUR]).post(
        f"/api/v1/c/{world.a.slug}/publications/",
        {"title": "x", "text": "y", "accounts": [foreign.pk]},
        format="json",
    )
    assert response.status_code == 400


def test_media_upload_and_alt_text_through_the_api(
    world: Any, settings: Any, tmp_path: Any
) -> None:
    import io

    from PIL import Image

    settings.MEDIA_ROOT = tmp_path
    variant = factories.VariantFactory(
        publication__collectivite=world.a,
        account=factories.SocialAccountFactory(collectivite=world.a, network="sandbox"),
    )
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10)).save(buffer, format="PNG")
    buffer.name = "plan.png"
    buffer.seek(0)
    client = api(world.members[Role.REDACTEUR])
    created = client.post(
        f"/api/v1/c/{world.a.slug}/publications/{variant.publication_id}/media/",
        {"file": buffer},
        format="multipart",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["mime_type"] == "image/png" and created.json()["alt_text"] == ""
    asset_id = created.json()["id"]
    detail = client.get(f"/api/v1/c/{world.a.slug}/variants/{variant.pk}/").json()
    assert "a11y.alt_missing" in [f["code"] for f in detail["findings"]]
    patched = client.patch(
        f"/api/v1/c/{world.a.slug}/media/{asset_id}/",
        {"alt_text": "Plan du quartier"},
        format="json",
    )
    assert patched.json()["alt_text"] == "Plan du quartier"
    other = api(world.outsider)
    assert other.get(f"/api/v1/c/{world.a.slug}/media/{asset_id}/").status_code == 404
