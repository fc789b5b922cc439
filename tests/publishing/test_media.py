"""Images and videos: checked by content, alt text required, served to members and, for a
day through a signed link, to the networks that fetch by URL."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from collectivites.permissions import Role
from publishing import services
from publishing.findings import findings_for_variant
from publishing.media import signed_url
from publishing.models import MediaAsset, Variant
from tests import factories

pytestmark = pytest.mark.django_db


def png(name: str = "marche.png", size: tuple[int, int] = (64, 48)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def variant(world: Any, settings: Any, tmp_path: Any) -> Variant:
    settings.MEDIA_ROOT = tmp_path
    return factories.VariantFactory(
        publication__collectivite=world.a,
        publication__author=world.members[Role.REDACTEUR],
        account=factories.SocialAccountFactory(collectivite=world.a, network="sandbox"),
        text="Le marché de Noël ouvre samedi.",
    )


def test_missing_alt_text_blocks_until_written(world: Any, variant: Variant) -> None:
    writer = world.members[Role.REDACTEUR]
    asset = services.media_add(actor=writer, publication=variant.publication, upload=png())
    assert (asset.kind, asset.mime_type, asset.width, asset.height) == (
        "image",
        "image/png",
        64,
        48,
    )
    codes = [f.code for f in findings_for_variant(variant).errors]
    assert "a11y.alt_missing" in codes
    with pytest.raises(Exception, match="Corrigez"):
        services.publication_submit(actor=writer, publication=variant.publication)
    services.media_update(
        actor=writer,
        publication=variant.publication,
        asset_id=asset.pk,
        alt_text="Chalets illuminés sur la place de la Mairie",
        credit="Ville A",
    )
    assert not findings_for_variant(variant).blocking
    services.publication_submit(actor=writer, publication=variant.publication)


def test_a_file_is_judged_by_its_content_not_its_name(world: Any, variant: Variant) -> None:
    fake = SimpleUploadedFile("photo.png", b"MZ\x90\x00 not an image", content_type="image/png")
    with pytest.raises(Exception, match="Format non reconnu"):
        services.media_add(
            actor=world.members[Role.REDACTEUR], publication=variant.publication, upload=fake
        )
    broken = SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 40)
    with pytest.raises(Exception, match="illisible"):
        services.media_add(
            actor=world.members[Role.REDACTEUR], publication=variant.publication, upload=broken
        )
    assert not MediaAsset.objects.for_collectivite(world.a).exists()


def test_pages_upload_and_serve_to_members_only(world: Any, variant: Variant) -> None:
    client = world.client(world.members[Role.REDACTEUR])
    url = f"/c/{world.a.slug}/publications/{variant.publication_id}/"
    response = client.post(
        url + "medias/", {"file": png(), "alt_text": "Affiche du marché"}, follow=True
    )
    assert "Média ajouté" in response.content.decode()
    asset = MediaAsset.objects.for_collectivite(world.a).get()
    served = client.get(f"/c/{world.a.slug}/publications/medias/{asset.pk}/fichier/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    outsider = world.client(world.outsider)
    assert (
        outsider.get(f"/c/{world.a.slug}/publications/medias/{asset.pk}/fichier/").status_code
        == 404
    )
    assert 'alt="Affiche du marché"' in client.get(url).content.decode()


def test_signed_link_for_the_networks(world: Any, variant: Variant, client: Any) -> None:
    asset = services.media_add(
        actor=world.members[Role.REDACTEUR],
        publication=variant.publication,
        upload=png(),
        alt_text="x",
    )
    path = signed_url(asset.pk).split("127.0.0.1:8000", 1)[1]
    assert client.get(path).status_code == 200
    assert client.get(path[:-3] + "abc/").status_code == 404

    from publishing.delivery import content_of

    (media,) = content_of(variant).media
    assert media.public_url.startswith("http") and "/medias/p/" in media.public_url
    assert media.alt_text == "x" and media.data.startswith(b"\x89PNG")
