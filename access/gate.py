"""What a person or a key may do in a collectivité, all things considered.

``collectivites.selectors.member_context`` (pages and API) and
``collectivites.services.require`` (every service) ask ``grant``: so the 2FA policy and an
API key's scopes hold on every path, not only where a page remembers to check them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from collectivites.permissions import Capability, capabilities_for

if TYPE_CHECKING:
    from django.http import HttpRequest

    from access.models import ApiKey
    from collectivites.models import Collectivite

C = Capability

# What each API-key scope allows. Nothing here manages members, accounts or settings,
# approves, sends an urgent alert or exports: those need a person (and a recent password).
SCOPE_CAPABILITIES: dict[str, frozenset[str]] = {
    "read": frozenset(
        {
            C.VIEW,
            C.ACCOUNTS_VIEW,
            C.EDITORIAL_VIEW,
            C.CHARTER_VIEW,
            C.ELECTIONS_VIEW,
            C.REPORTING_VIEW,
            C.PUBLISHING_VIEW,
            C.INBOX_VIEW,
        }
    ),
    "publish": frozenset({C.VIEW, C.PUBLISHING_VIEW, C.PUBLISHING_DRAFT}),
    "moderate": frozenset({C.VIEW, C.INBOX_VIEW, C.INBOX_REPLY, C.INBOX_MODERATE}),
}
NEVER_FOR_KEYS = frozenset(
    {
        C.MEMBERS_VIEW,
        C.MEMBERS_MANAGE,
        C.ACCOUNTS_MANAGE,
        C.EDITORIAL_MANAGE,
        C.CHARTER_MANAGE,
        C.ELECTIONS_MANAGE,
        C.WATCH_MANAGE,
        C.PUBLISHING_APPROVE,
        C.PUBLISHING_URGENT,
        C.INBOX_APPROVE,
        C.REPORTING_EXPORT,
    }
)
# Capabilities that make a role "one that publishes, moderates or administers".
SENSITIVE_CAPABILITIES = frozenset(
    {
        C.PUBLISHING_DRAFT,
        C.PUBLISHING_APPROVE,
        C.PUBLISHING_URGENT,
        C.INBOX_REPLY,
        C.INBOX_MODERATE,
        C.ACCOUNTS_MANAGE,
        C.MEMBERS_MANAGE,
    }
)
KEY_USERNAME_PREFIX = "cle-api:"
AUTH_AT_SESSION_KEY = "access_auth_at"

TWO_FACTOR_ENROL_MESSAGE = _(
    "Votre collectivité exige la double authentification pour votre rôle : activez-la "
    "pour continuer."
)
TWO_FACTOR_VERIFY_MESSAGE = _(
    "Votre collectivité exige la double authentification : saisissez un code de votre "
    "application pour continuer."
)
REAUTH_MESSAGE = _(
    "Cette action est sensible : confirmez votre identité (mot de passe, et code si la "
    "double authentification est active) puis recommencez."
)


def scope_capabilities(scopes: list[str]) -> frozenset[str]:
    caps: frozenset[str] = frozenset()
    for scope in scopes:
        caps |= SCOPE_CAPABILITIES.get(scope, frozenset())
    return caps - NEVER_FOR_KEYS


@dataclass(frozen=True)
class Grant:
    capabilities: frozenset[str]
    # "" when nothing is missing; "enrol" or "verify" when the policy blocks the member.
    two_factor: str = ""


def api_key_of(user: Any) -> ApiKey | None:
    """The API key a technical user stands for (cached on the user object)."""
    if not getattr(user, "is_authenticated", False):
        return None
    if "_access_api_key" in user.__dict__:
        return user.__dict__["_access_api_key"]
    key = None
    if user.get_username().startswith(KEY_USERNAME_PREFIX):
        from access.models import ApiKey

        key = ApiKey.objects.dangerously_unscoped().filter(user_id=user.pk).first()
    user.__dict__["_access_api_key"] = key
    return key


def two_factor_required(*, collectivite: Collectivite, roles: frozenset[str]) -> bool:
    from access.models import SecurityPolicy

    if not roles:
        return False
    policy = (
        SecurityPolicy.objects.for_collectivite(collectivite)
        .values_list("two_factor", flat=True)
        .first()
    )
    if policy == SecurityPolicy.TwoFactor.ALL:
        return True
    if policy == SecurityPolicy.TwoFactor.SENSITIVE:
        return bool(capabilities_for(roles) & SENSITIVE_CAPABILITIES)
    return False


def has_two_factor(user: Any) -> bool:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def grant(
    *, user: Any, collectivite: Collectivite, roles: frozenset[str], verified: bool = True
) -> Grant | None:
    """None: not a member (404). Otherwise the capabilities that hold right now.

    ``verified`` says whether this request proved a second factor (a session verified by
    django-otp, or a token, which was created from such a session); services pass the
    default and only the enrolment is checked there.
    """
    key = api_key_of(user)
    if key is not None:
        if key.collectivite_id != collectivite.pk or not key.is_usable():
            return None
        return Grant(capabilities=key.capabilities)
    if not roles:
        return None
    if two_factor_required(collectivite=collectivite, roles=roles):
        if not has_two_factor(user):
            return Grant(capabilities=frozenset(), two_factor="enrol")
        if not verified:
            return Grant(capabilities=frozenset(), two_factor="verify")
    return Grant(capabilities=capabilities_for(roles))


def two_factor_message(state: str) -> str:
    return str(TWO_FACTOR_VERIFY_MESSAGE if state == "verify" else TWO_FACTOR_ENROL_MESSAGE)


def request_verified(request: Any) -> bool:
    """A bearer token counts as verified; a session, if django-otp verified it."""
    from access.models import ApiKey, PersonalToken

    if isinstance(getattr(request, "auth", None), ApiKey | PersonalToken):
        return True
    user = getattr(request, "user", None)
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


# --- recent authentication ------------------------------------------------------------------


def mark_authenticated(request: HttpRequest) -> None:
    request.session[AUTH_AT_SESSION_KEY] = int(time.time())


def recently_authenticated(request: Any, max_age: int | None = None) -> bool:
    from access.models import PersonalToken

    if isinstance(getattr(request, "auth", None), PersonalToken):
        # A personal token was created after a fresh password (and code); it is the
        # credential for scripts that change roles through the API. Keys never get there.
        return True
    session = getattr(request, "session", None)
    if session is None:
        return False
    at = session.get(AUTH_AT_SESSION_KEY)
    age = settings.PARVIS_REAUTH_SECONDS if max_age is None else max_age
    return isinstance(at, int) and time.time() - at <= age
