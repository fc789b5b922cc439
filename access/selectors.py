"""Reads for the access pages and API. Scoped like every read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.gate import two_factor_required
from access.models import ApiKey, PersonalToken
from collectivites import selectors as collectivites_selectors
from collectivites.models import Collectivite


def personal_tokens(*, user: AbstractBaseUser) -> QuerySet[PersonalToken]:
    return PersonalToken.objects.filter(user=user).order_by("-created_at")


def api_keys(*, collectivite: Collectivite) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_collectivite(collectivite).order_by("-created_at")


def collectivites_requiring_two_factor(*, user: AbstractBaseUser) -> list[Collectivite]:
    return [
        c
        for c in collectivites_selectors.collectivites_of(user=user)
        if two_factor_required(
            collectivite=c, roles=collectivites_selectors.roles_of(user=user, collectivite=c)
        )
    ]


@dataclass
class MemberSecurityRow:
    row: Any  # collectivites.selectors.MemberRow
    enrolled: bool
    required: bool


def members_two_factor(*, collectivite: Collectivite) -> list[MemberSecurityRow]:
    rows = collectivites_selectors.members_of(collectivite=collectivite)
    enrolled = set(
        TOTPDevice.objects.filter(
            user_id__in=[r.user.pk for r in rows], confirmed=True
        ).values_list("user_id", flat=True)
    )
    return [
        MemberSecurityRow(
            row=r,
            enrolled=r.user.pk in enrolled,
            required=two_factor_required(collectivite=collectivite, roles=frozenset(r.roles)),
        )
        for r in rows
    ]
