"""Media files: checked by their content (not their name), size-limited, images re-encoded
(orientation applied, every metadata dropped: EXIF with a photo's GPS position, XMP,
comments), and served to the networks that only take a URL (Instagram) through
short-lived signed links. Choices written down in docs/security.md ("Fichiers déposés")."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

SIGNED_URL_MAX_AGE = 24 * 3600
_SIGNER_SALT = "parvis.media.public"
_FORMATS = {  # sniffed type -> (Pillow format, extension of the stored file)
    "image/png": ("PNG", ".png"),
    "image/jpeg": ("JPEG", ".jpg"),
    "image/gif": ("GIF", ".gif"),
    "image/webp": ("WEBP", ".webp"),
}
# What survives re-encoding from an image's info: how to draw it, nothing about who,
# where or with what it was taken.
_KEPT_INFO = ("transparency", "icc_profile")


@dataclass(frozen=True)
class Inspected:
    kind: str  # "image" | "video"
    mime_type: str
    size: int
    width: int | None = None
    height: int | None = None
    # what to store: the re-encoded image (None for a video, stored as uploaded)
    content: ContentFile | None = None


def max_bytes(kind: str) -> int:
    """Upload limit for a kind of file ("image", "video", "document"): settings."""
    return int(settings.PARVIS_UPLOAD_MAX_BYTES[kind])


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


def _too_big(kind: str) -> ValidationError:
    limit = filesizeformat(max_bytes(kind))
    if kind == "video":
        return ValidationError(
            _("La vidéo dépasse la taille maximale (%(limit)s).") % {"limit": limit}
        )
    return ValidationError(_("L'image dépasse la taille maximale (%(limit)s).") % {"limit": limit})


def inspect(upload: UploadedFile) -> Inspected:
    """What the file really is, whatever its name says; a French error otherwise. An image
    comes back re-encoded, in ``content``, to be stored instead of the upload."""
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
        if size > max_bytes("video"):
            raise _too_big("video")
        return Inspected("video", mime, size)
    if size > max_bytes("image"):
        raise _too_big("image")
    try:
        data = upload.read(max_bytes("image") + 1)
    finally:
        upload.seek(0)
    if len(data) > max_bytes("image"):
        raise _too_big("image")
    clean, width, height = reencode(data, mime)
    stem = PurePath(upload.name or "image").stem[:80] or "image"
    name = stem + _FORMATS[mime][1]
    return Inspected("image", mime, len(clean), width, height, ContentFile(clean, name=name))


def reencode(data: bytes, mime: str) -> tuple[bytes, int, int]:
    """The image drawn again into a new file of the same format: orientation applied, no
    metadata. Animated GIF, WebP and PNG stay animated (every frame re-drawn, timings kept).
    Refused, in French: unreadable files, and images whose pixels (all frames together)
    exceed ``PARVIS_MAX_IMAGE_PIXELS`` (decompression bombs), before they are decoded."""
    fmt = _FORMATS[mime][0]
    limit = int(settings.PARVIS_MAX_IMAGE_PIXELS)
    bomb = ValidationError(
        _(
            "L'image est trop grande une fois décompressée (%(pixels)s millions de pixels "
            "au plus) : réduisez ses dimensions."
        )
        % {"pixels": limit // 1_000_000}
    )
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice that: make it an error too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                probe.verify()  # structure and checksums, before any pixel is decoded
            with Image.open(io.BytesIO(data)) as image:
                if image.format != fmt:
                    raise ValidationError(_("Cette image est illisible ou abîmée."))
                frames = getattr(image, "n_frames", 1)
                width, height = image.size
                if width * height * frames > limit:
                    raise bomb
                out = io.BytesIO()
                if frames > 1:
                    _save_animated(image, out, fmt)
                else:
                    width, height = _save_still(image, out, fmt)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise bomb from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValidationError(_("Cette image est illisible ou abîmée.")) from exc
    return out.getvalue(), width, height


def _clean_info(image: Image.Image, source: Image.Image) -> Image.Image:
    image.info = {k: source.info[k] for k in _KEPT_INFO if k in source.info}
    return image


def _save_still(image: Image.Image, out: io.BytesIO, fmt: str) -> tuple[int, int]:
    """Save the upright picture (EXIF orientation applied); its width and height."""
    upright = ImageOps.exif_transpose(image) or image.copy()
    _clean_info(upright, image)
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options = {"quality": 90, "optimize": True}
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
    elif fmt == "WEBP":
        options = {"quality": 90}
    elif fmt == "PNG":
        options = {"optimize": True}
    upright.save(out, format=fmt, exif=b"", **options)
    return upright.size


def _save_animated(image: Image.Image, out: io.BytesIO, fmt: str) -> None:
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration", 100)))
        copy = frame.convert("RGBA")
        copy.info = {}
        frames.append(copy)
    first, rest = frames[0], frames[1:]
    options: dict[str, object] = {
        "save_all": True,
        "append_images": rest,
        "duration": durations,
        "loop": int(image.info.get("loop", 0)),
    }
    if fmt == "GIF":
        options["disposal"] = 2
    elif fmt == "WEBP":
        options["quality"] = 90
    first.save(out, format=fmt, **options)


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
