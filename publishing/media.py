"""Media files: checked by their content (not their name), measured, and served to the
networks that only take a URL (Instagram) through short-lived signed links."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 20_000_000
MAX_VIDEO_BYTES = 500_000_000
SIGNED_URL_MAX_AGE = 24 * 3600
_SIGNER_SALT = "parvis.media.public"


@dataclass(frozen=True)
class Inspected:
    kind: str  # "image" | "video"
    mime_type: str
    size: int
    width: int | None = None
    height: int | None = None


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    return None


def inspect(upload: UploadedFile) -> Inspected:
    """What the file really is, whatever its name says; a French error otherwise."""
    upload.seek(0)
    head = upload.read(32)
    upload.seek(0)
    mime = _sniff(head)
    if mime is None:
        raise ValidationError(
            _("Format non reconnu : déposez une image JPEG, PNG, GIF ou WebP, ou une vidéo MP4.")
        )
    size = upload.size or 0
    if mime.startswith("video/"):
        if size > MAX_VIDEO_BYTES:
            raise ValidationError(_("La vidéo dépasse 500 Mo."))
        return Inspected("video", mime, size)
    if size > MAX_IMAGE_BYTES:
        raise ValidationError(_("L'image dépasse 20 Mo."))
    try:
        with Image.open(io.BytesIO(upload.read())) as image:
            image.verify()
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValidationError(_("Cette image est illisible ou abîmée.")) from exc
    finally:
        upload.seek(0)
    return Inspected("image", mime, size, width, height)


def signed_url(asset_id: int) -> str:
    """A link a network can download the file from for a day, and nobody can guess."""
    token = signing.TimestampSigner(salt=_SIGNER_SALT).sign(str(asset_id))
    return settings.PARVIS_BASE_URL + reverse("media_public", kwargs={"token": token})


def asset_id_from_token(token: str) -> int | None:
    try:
        value = signing.TimestampSigner(salt=_SIGNER_SALT).unsign(token, max_age=SIGNED_URL_MAX_AGE)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None
