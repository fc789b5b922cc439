"""What the access tests share: a TOTP code computed from the device's key, as a phone
would, and an enrolled user."""

from __future__ import annotations

import time
from typing import Any

from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from access import gate, services


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or ``steps_ahead`` periods later, for a
    second code in the same test: a device never accepts the same period twice)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(user: Any) -> tuple[TOTPDevice, list[str]]:
    device = services.totp_pending_device(user=user)
    enrolment = services.totp_confirm(user=user, device_id=device.pk, code=code_for(device))
    enrolment.device.refresh_from_db()
    return enrolment.device, enrolment.recovery_codes


def age_authentication(client: Client, seconds: int) -> None:
    """Pretend the session's last password was typed ``seconds`` ago."""
    session = client.session
    session[gate.AUTH_AT_SESSION_KEY] = int(time.time()) - seconds
    session.save()


def text(response: Any) -> str:
    """The page as a reader sees it (Django escapes apostrophes in French text)."""
    from html import unescape

    return unescape(response.content.decode())
