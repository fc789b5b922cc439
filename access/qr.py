"""The enrolment QR code, drawn on the server as an inline SVG (no image service, no JS)."""

from __future__ import annotations

import re

import qrcode
import qrcode.image.svg
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def qr_svg(data: str, *, label: str, size_px: int = 220) -> SafeString:
    code = qrcode.QRCode(image_factory=qrcode.image.svg.SvgPathImage, border=4)
    code.add_data(data)
    markup = code.make_image().to_string(encoding="unicode")
    view_box = re.search(r'viewBox="([^"]+)"', markup)
    path = re.search(r'<path d="([^"]+)"', markup)
    if view_box is None or path is None:  # the library's output format changed
        raise RuntimeError("Unexpected SVG from qrcode")
    # only digits, commas, letters of path commands: nothing to escape, but say so
    d = escape(path.group(1))
    return mark_safe(  # noqa: S308 - built from the library's numeric path data, escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{size_px}" '
        f'height="{size_px}" viewBox="{escape(view_box.group(1))}" '
        f'aria-label="{escape(label)}"><rect width="100%" height="100%" fill="#ffffff"/>'
        f'<path d="{d}" fill="#000000"/></svg>'
    )
