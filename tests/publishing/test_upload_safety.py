"""Uploaded media are judged by their content, size-limited, and images are re-encoded:
orientation applied, metadata gone (a photo of residents taken with a phone carries the
GPS position of where it was taken), animations kept, decompression bombs refused, each
refusal in French and nothing stored."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageSequence, PngImagePlugin

from collectivites.permissions import Role
from publishing import media, services
from publishing.models import MediaAsset, Variant
from tests import factories

pytestmark = pytest.mark.django_db

GPS_IFD = 0x8825
ORIENTATION = 0x0112
RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture
def variant(world: Any, settings: Any, tmp_path: Path) -> Variant:
    settings.MEDIA_ROOT = tmp_path
    return factories.VariantFactory(
        publication__collectivite=world.a,
        publication__author=world.members[Role.REDACTEUR],
        account=factories.SocialAccountFactory(collectivite=world.a, network="sandbox"),
        text="La fête de quartier, en images.",
    )


def _add(world: Any, variant: Variant, upload: SimpleUploadedFile) -> MediaAsset:
    return services.media_add(
        actor=world.members[Role.REDACTEUR], publication=variant.publication, upload=upload
    )


def _stored(asset: MediaAsset) -> Image.Image:
    with asset.file.open("rb") as f:
        image = Image.open(io.BytesIO(f.read()))
    image.load()
    return image


def _phone_photo() -> bytes:
    """A 60x40 JPEG as a phone writes it: stored sideways with EXIF orientation 6, the
    phone's make, the GPS position of the square, and a comment. Its top-left corner is red."""
    image = Image.new("RGB", (60, 40), BLUE)
    image.paste(RED, (0, 0, 12, 12))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 8.0)}
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, comment=b"Jeanne Martin, 12 rue des Lilas")
    data = buffer.getvalue()
    # the fixture really carries what the test says it does
    with Image.open(io.BytesIO(data)) as check:
        assert check.getexif().get_ifd(GPS_IFD)[1] == "N"
        assert check.getexif()[ORIENTATION] == 6
    return data


def test_a_photo_comes_out_upright_without_gps_or_any_metadata(
    world: Any, variant: Variant
) -> None:
    data = _phone_photo()
    asset = _add(world, variant, SimpleUploadedFile("fete.jpg", data, "image/jpeg"))
    stored = _stored(asset)
    assert stored.format == "JPEG"
    exif = stored.getexif()
    assert dict(exif) == {}
    assert exif.get_ifd(GPS_IFD) == {}
    assert "exif" not in stored.info and "comment" not in stored.info
    raw = Path(asset.file.path).read_bytes()
    assert b"PhoneMaker" not in raw and b"Jeanne" not in raw
    # orientation 6 applied: 60x40 stored sideways is 40x60 upright, red corner top-right
    assert stored.size == (40, 60)
    assert (asset.width, asset.height, asset.size) == (40, 60, len(raw))
    r, g, b = stored.getpixel((35, 4))
    assert r > 150 and b < 100
    r, g, b = stored.getpixel((4, 4))
    assert b > 150 and r < 100


def test_png_text_chunks_go_and_the_real_format_names_the_file(
    world: Any, variant: Variant
) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jeanne Martin")
    info.add_text("Comment", "pris devant le 12 rue des Lilas")
    buffer = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 128, 0, 128)).save(buffer, format="PNG", pnginfo=info)
    # a PNG named .jpg: accepted for what it is, stored as a .png
    asset = _add(world, variant, SimpleUploadedFile("affiche.jpg", buffer.getvalue()))
    assert asset.mime_type == "image/png"
    assert asset.file.name.endswith(".png")
    stored = _stored(asset)
    assert stored.mode == "RGBA" and stored.getpixel((5, 5)) == (0, 128, 0, 128)
    assert b"Jeanne" not in Path(asset.file.path).read_bytes()
    assert not {"Author", "Comment"} & set(stored.info)


def test_a_php_file_named_jpg_is_refused(world: Any, variant: Variant) -> None:
    php = SimpleUploadedFile(
        "photo.jpg", b"<?php system($_GET['c']); ?>", content_type="image/jpeg"
    )
    with pytest.raises(ValidationError, match="Format non reconnu"):
        _add(world, variant, php)
    assert not MediaAsset.objects.for_collectivite(world.a).exists()


def test_code_hidden_in_a_real_jpeg_does_not_survive(world: Any, variant: Variant) -> None:
    """A valid JPEG whose comment segment carries PHP (a polyglot): the image is accepted,
    the code is not stored."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), BLUE).save(
        buffer, format="JPEG", comment=b"<?php system($_GET['c']); ?>"
    )
    assert b"<?php" in buffer.getvalue()
    asset = _add(world, variant, SimpleUploadedFile("photo.jpg", buffer.getvalue()))
    assert b"<?php" not in Path(asset.file.path).read_bytes()


def test_an_oversize_image_or_video_is_refused_in_french(
    world: Any, variant: Variant, settings: Any
) -> None:
    settings.PARVIS_UPLOAD_MAX_BYTES = {"image": 2_000, "video": 3_000, "document": 1_000}
    noisy = Image.effect_noise((120, 120), 80).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 2_000
    with pytest.raises(ValidationError, match=r"L'image dépasse la taille maximale \(2,0"):
        _add(world, variant, SimpleUploadedFile("bruit.png", buffer.getvalue()))
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4_000
    with pytest.raises(ValidationError, match=r"La vidéo dépasse la taille maximale \(2,9"):
        _add(world, variant, SimpleUploadedFile("film.mp4", video))
    assert not MediaAsset.objects.for_collectivite(world.a).exists()


def test_a_decompression_bomb_is_refused_before_decoding(
    world: Any, variant: Variant, settings: Any
) -> None:
    settings.PARVIS_MAX_IMAGE_PIXELS = 1_000_000
    buffer = io.BytesIO()
    Image.new("1", (2_000, 2_000)).save(buffer, format="PNG")  # 4 Mpx in a few kB
    assert len(buffer.getvalue()) < 5_000
    with pytest.raises(ValidationError, match="trop grande une fois décompressée"):
        _add(world, variant, SimpleUploadedFile("bombe.png", buffer.getvalue()))
    assert not MediaAsset.objects.for_collectivite(world.a).exists()


def test_pillows_own_bomb_guard_also_ends_in_french(monkeypatch: Any) -> None:
    """Whatever Parvis' own limit, Pillow's (warning, then error at twice it) is an error."""
    buffer = io.BytesIO()
    Image.new("L", (100, 100)).save(buffer, format="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6_000)  # 10 000 px: a warning only
    with pytest.raises(ValidationError, match="trop grande une fois décompressée"):
        media.reencode(buffer.getvalue(), "image/png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_000)  # more than twice: Pillow's error
    with pytest.raises(ValidationError, match="trop grande une fois décompressée"):
        media.reencode(buffer.getvalue(), "image/png")


def test_an_animated_gif_stays_animated_without_its_comment(world: Any, variant: Variant) -> None:
    frames = [Image.new("RGB", (24, 24), c) for c in (RED, BLUE, (20, 160, 20))]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[200, 300, 400],
        loop=0,
        comment=b"Jeanne Martin",
    )
    asset = _add(world, variant, SimpleUploadedFile("anim.gif", buffer.getvalue()))
    stored = _stored(asset)
    assert stored.format == "GIF"
    assert stored.n_frames == 3
    durations = [f.info.get("duration") for f in ImageSequence.Iterator(stored)]
    assert durations == [200, 300, 400]
    assert b"Jeanne" not in Path(asset.file.path).read_bytes()
    assert "comment" not in stored.info


def test_a_long_animation_counts_all_its_frames(settings: Any) -> None:
    settings.PARVIS_MAX_IMAGE_PIXELS = 10_000
    frames = [Image.new("L", (40, 40), i * 20) for i in range(8)]  # 8 x 1 600 px
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ValidationError, match="trop grande une fois décompressée"):
        media.reencode(buffer.getvalue(), "image/gif")


def test_a_truncated_image_is_refused(world: Any, variant: Variant) -> None:
    data = _phone_photo()
    with pytest.raises(ValidationError, match="illisible"):
        _add(world, variant, SimpleUploadedFile("coupee.jpg", data[: len(data) // 2]))


def test_the_api_refuses_in_french_too(world: Any, variant: Variant) -> None:
    client = world.client(world.members[Role.REDACTEUR])
    response = client.post(
        f"/api/v1/c/{world.a.slug}/publications/{variant.publication_id}/media/",
        {"file": SimpleUploadedFile("photo.jpg", b"<?php echo 1; ?>")},
    )
    assert response.status_code == 400
    assert "Format non reconnu" in response.content.decode()
