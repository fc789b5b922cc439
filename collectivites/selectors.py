"""Reads shared by pages, the API and services. Every query here is scoped."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from collectivites.models import (
    Audience,
    Collectivite,
    EditorialLine,
    ElectionPeriod,
    Invitation,
    Membership,
    ModerationCharter,
    Notification,
    SocialAccount,
)
from collectivites.permissions import Role, roles_with


def roles_of(
    *, user: AbstractBaseUser | AnonymousUser, collectivite: Collectivite
) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        Membership.objects.for_collectivite(collectivite)
        .filter(user=user)
        .values_list("role", flat=True)
    )


@dataclass(frozen=True)
class MemberContext:
    """Who is asking, where: resolved once per request by the middleware or the API."""

    collectivite: Collectivite
    roles: frozenset[str]
    capabilities: frozenset[str] = field(default=frozenset())
    # "enrol" / "verify" when the collectivité's 2FA policy blocks this member (access.gate)
    two_factor: str = ""

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


def member_context(
    *, user: AbstractBaseUser | AnonymousUser, slug: str, verified: bool = True
) -> MemberContext | None:
    """The collectivité named by ``slug`` as ``user`` sees it, or None if they are not a member
    (which callers answer with 404: a non-member does not learn that it exists).

    Capabilities come from ``access.gate.grant``: the roles, less what the 2FA policy
    blocks (``verified``: the request proved a second factor), or an API key's scopes."""
    from access.gate import grant

    collectivite = Collectivite.objects.filter(slug=slug).first()
    if collectivite is None:
        return None
    roles = roles_of(user=user, collectivite=collectivite)
    granted = grant(user=user, collectivite=collectivite, roles=roles, verified=verified)
    if granted is None:
        return None
    return MemberContext(
        collectivite=collectivite,
        roles=roles,
        capabilities=granted.capabilities,
        two_factor=granted.two_factor,
    )


def collectivites_of(*, user: AbstractBaseUser) -> QuerySet[Collectivite]:
    ids = Membership.objects.for_user(user).values_list("collectivite_id", flat=True)
    return Collectivite.objects.filter(pk__in=list(ids)).order_by("name")


@dataclass
class MemberRow:
    user: AbstractBaseUser
    roles: list[str]

    @property
    def role_labels(self) -> list[str]:
        labels = dict(Role.choices)
        return [str(labels[r]) for r in self.roles]


def members_of(*, collectivite: Collectivite) -> list[MemberRow]:
    by_user: dict[int, MemberRow] = {}
    roles: dict[int, list[str]] = defaultdict(list)
    order = list(Role.values)
    for m in (
        Membership.objects.for_collectivite(collectivite)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__email")
    ):
        by_user.setdefault(m.user_id, MemberRow(user=m.user, roles=[]))
        roles[m.user_id].append(m.role)
    for user_id, row in by_user.items():
        row.roles = sorted(roles[user_id], key=order.index)
    return list(by_user.values())


def member_ids_with(*, collectivite: Collectivite, capability: str) -> QuerySet[Membership]:
    """The user ids of the members whose roles hold ``capability`` (lazy: a set, or a
    subquery in ``pk__in``); a member with two such roles comes twice."""
    return (
        Membership.objects.for_collectivite(collectivite)
        .filter(role__in=roles_with(capability))
        .values_list("user_id", flat=True)
    )


def member_of(*, collectivite: Collectivite, user_id: int) -> MemberRow | None:
    for row in members_of(collectivite=collectivite):
        if row.user.pk == user_id:
            return row
    return None


def pending_invitations(*, collectivite: Collectivite) -> QuerySet[Invitation]:
    return Invitation.objects.for_collectivite(collectivite).filter(accepted_at__isnull=True)


def social_accounts(*, collectivite: Collectivite) -> QuerySet[SocialAccount]:
    return (
        SocialAccount.objects.for_collectivite(collectivite)
        .select_related("editorial_line")
        .prefetch_related("audiences")
    )


def editorial_lines(*, collectivite: Collectivite) -> QuerySet[EditorialLine]:
    return (
        EditorialLine.objects.for_collectivite(collectivite)
        .select_related("account")
        .prefetch_related("target_audiences")
        .order_by("account__network", "account__handle")
    )


def accounts_without_line(*, collectivite: Collectivite) -> QuerySet[SocialAccount]:
    return SocialAccount.objects.for_collectivite(collectivite).filter(editorial_line__isnull=True)


def audiences(*, collectivite: Collectivite) -> QuerySet[Audience]:
    return Audience.objects.for_collectivite(collectivite)


def charter(*, collectivite: Collectivite) -> ModerationCharter | None:
    return ModerationCharter.objects.for_collectivite(collectivite).first()


def election_periods(*, collectivite: Collectivite) -> QuerySet[ElectionPeriod]:
    return ElectionPeriod.objects.for_collectivite(collectivite)


def notifications_of(
    *, user: AbstractBaseUser, collectivite: Collectivite
) -> QuerySet[Notification]:
    return Notification.objects.for_collectivite(collectivite).filter(user=user)[:100]


def unread_notifications_count(*, user: AbstractBaseUser, collectivite: Collectivite) -> int:
    return (
        Notification.objects.for_collectivite(collectivite)
        .filter(user=user, read_at__isnull=True)
        .count()
    )
