"""Services for social accounts' connections: connecting through a network's consent
screen or form, calling a network for an account, and what happens when a token dies.

Kept apart from ``services.py`` (the collectivité's settings) because it is the one
place where Parvis's accounts meet ``networks/``: credentials are decrypted here,
handed to an adapter as plain data, and stored again encrypted when the adapter
refreshed them. Every write checks the actor's capability, as in ``services.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import record
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability, Role
from collectivites.services import notify_role, require
from networks import crypto
from networks.base import Account, Adapter, AuthExpired, NetworkError, Rejected
from networks.connect import AuthorizationStart, ConnectableAccount
from networks.registry import Network, get_adapter, get_connector

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How long an admin has to come back from the network's consent screen.
FLOW_MAX_AGE = dt.timedelta(minutes=15)
# Refresh tokens that expire within this delay before using them.
REFRESH_AHEAD = dt.timedelta(days=2)


# --- calling a network ------------------------------------------------------------------------


def account_ref(account: SocialAccount) -> Account:
    return Account(
        network=account.network,
        external_id=account.external_id,
        handle=account.handle,
        credentials=dict(account.credentials),
        settings=dict(account.connection_settings),
    )


def call_network(account: SocialAccount, operation: Callable[[Adapter, Account], T]) -> T:
    """Run ``operation`` with the account's adapter and decrypted credentials.

    Refreshes credentials about to expire first; stores refreshed credentials again
    (encrypted); on ``AuthExpired`` marks the account "to reconnect" and tells its admins,
    then re-raises so the caller handles the failure as any other."""
    adapter = get_adapter(account.network)
    ref = account_ref(account)
    try:
        if account.token_expires_at and account.token_expires_at - timezone.now() < REFRESH_AHEAD:
            ref = _refresh_locked(adapter, account)
        return operation(adapter, ref)
    except AuthExpired as exc:
        social_account_mark_to_reconnect(account=account, reason=exc.message or exc.code)
        raise
    finally:
        if ref.credentials_changed:
            _store_credentials(account, ref.credentials)


def _refresh_locked(adapter: Adapter, account: SocialAccount) -> Account:
    """Refresh under a row lock: some networks (X) rotate single-use refresh tokens, so two
    workers refreshing at once would leave one with a dead token. The second waits, then
    sees the first one's fresh credentials."""
    with transaction.atomic():
        locked = (
            SocialAccount.objects.for_collectivite(account.collectivite_id)
            .select_for_update()
            .get(pk=account.pk)
        )
        ref = account_ref(locked)
        adapter.refresh_credentials(ref)
        if ref.credentials_changed:
            _store_credentials(locked, ref.credentials)
            ref.credentials_changed = False
    account.credentials = dict(ref.credentials)
    account.token_expires_at = locked.token_expires_at
    return ref


def _store_credentials(account: SocialAccount, credentials: dict[str, Any]) -> None:
    account.credentials = credentials
    expires = credentials.get("expires_at")
    if isinstance(expires, str):
        with contextlib.suppress(ValueError):
            account.token_expires_at = dt.datetime.fromisoformat(expires)
    SocialAccount.objects.for_collectivite(account.collectivite_id).filter(pk=account.pk).update(
        credentials=credentials,  # the field encrypts it
        token_expires_at=account.token_expires_at,
    )


def social_account_verify(*, actor: AbstractBaseUser, account: SocialAccount) -> str:
    """An admin asks "does this account still work?"."""
    require(actor, account.collectivite, Capability.ACCOUNTS_MANAGE)
    return social_account_check(account=account)


def social_account_check(*, account: SocialAccount) -> str:
    """A light read-only call; returns a French sentence describing the outcome."""
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    try:
        metrics = call_network(account, lambda a, ref: a.fetch_account_metrics(ref, yesterday))
    except AuthExpired:
        return _("Le réseau refuse l'accès : le compte doit être reconnecté.")
    except NetworkError as exc:
        return _("Le réseau n'a pas répondu correctement (%(kind)s). Réessayez plus tard.") % {
            "kind": type(exc).__name__
        }
    if account.status != SocialAccount.Status.CONNECTED:
        _set_status(account, SocialAccount.Status.CONNECTED, "")
    if metrics.followers is None:
        return _("Connexion vérifiée.")
    return _("Connexion vérifiée : %(n)s abonnés.") % {"n": metrics.followers}


def _set_status(account: SocialAccount, status: str, reason: str) -> None:
    account.status = status
    account.status_reason = reason[:500]
    account.status_changed_at = timezone.now()
    SocialAccount.objects.for_collectivite(account.collectivite_id).filter(pk=account.pk).update(
        status=status,
        status_reason=account.status_reason,
        status_changed_at=account.status_changed_at,
    )


@transaction.atomic
def social_account_mark_to_reconnect(*, account: SocialAccount, reason: str) -> bool:
    """The network refused the token. Tell the admins once (in the app and by e-mail);
    returns False when the account was already waiting to be reconnected."""
    locked = (
        SocialAccount.objects.for_collectivite(account.collectivite_id)
        .select_for_update()
        .get(pk=account.pk)
    )
    if locked.status == SocialAccount.Status.TO_RECONNECT:
        return False
    _set_status(account, SocialAccount.Status.TO_RECONNECT, reason)
    record(
        collectivite=account.collectivite_id,
        actor=None,
        action=Action.ACCOUNT_TO_RECONNECT,
        obj=account,
        before={"status": locked.status},
        after={"status": SocialAccount.Status.TO_RECONNECT, "reason": account.status_reason},
    )
    message = _(
        "Le compte %(account)s (%(network)s) doit être reconnecté : le réseau refuse son accès."
    ) % {"account": account.display_name, "network": account.get_network_display()}
    link = reverse("accounts", kwargs={"collectivite_slug": account.collectivite.slug})
    notify_role(
        collectivite=account.collectivite, role=Role.ADMIN, message=message, link=link, email=True
    )
    return True


# --- connecting -------------------------------------------------------------------------------


def _connector(network: str) -> Any:
    if network not in Network.values:
        raise ValidationError(_("Réseau inconnu."))
    connector = get_connector(network)
    if not connector.is_configured():
        raise ValidationError(
            _("Ce réseau n'est pas configuré : définissez %(names)s.")
            % {"names": ", ".join(connector.missing_settings())}
        )
    return connector


def connection_start(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    network: str,
    form: dict[str, str],
    redirect_uri: str,
) -> tuple[str, AuthorizationStart]:
    """Returns (state, start). The caller keeps ``state`` and ``start.flow_data`` in the
    admin's session (``flow_store``) and redirects to ``start.url``."""
    require(actor, collectivite, Capability.ACCOUNTS_MANAGE)
    connector = _connector(network)
    state = secrets.token_urlsafe(32)
    try:
        start = connector.start(redirect_uri=redirect_uri, state=state, form=form)
    except Rejected as exc:
        raise ValidationError(exc.reason) from exc
    except NetworkError as exc:
        raise ValidationError(_("Le réseau ne répond pas, réessayez dans un instant.")) from exc
    return state, start


def flow_store(
    session: Any, *, state: str, collectivite: Collectivite, network: str, flow_data: dict[str, Any]
) -> None:
    flows = session.get("parvis_connect", {})
    now = timezone.now()
    # Forget abandoned flows so the session does not grow.
    flows = {
        k: v for k, v in flows.items() if now - dt.datetime.fromisoformat(v["at"]) < FLOW_MAX_AGE
    }
    flows[state] = {
        "collectivite": collectivite.pk,
        "network": network,
        "at": now.isoformat(),
        "data": crypto.encrypt(json.dumps(flow_data)),
    }
    session["parvis_connect"] = flows


def flow_pop(session: Any, state: str) -> tuple[int, str, dict[str, Any]] | None:
    """The flow ``state`` names, removed so it cannot be replayed; None if unknown or stale."""
    flows = session.get("parvis_connect", {})
    entry = flows.pop(state, None) if state else None
    session["parvis_connect"] = flows
    if entry is None:
        return None
    if timezone.now() - dt.datetime.fromisoformat(entry["at"]) > FLOW_MAX_AGE:
        return None
    return entry["collectivite"], entry["network"], json.loads(crypto.decrypt(entry["data"]))


def connection_finish(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    network: str,
    query: dict[str, str],
    redirect_uri: str,
    flow_data: dict[str, Any],
) -> list[ConnectableAccount]:
    require(actor, collectivite, Capability.ACCOUNTS_MANAGE)
    if query.get("error"):
        raise ValidationError(_("La connexion a été annulée sur le réseau."))
    connector = _connector(network)
    try:
        return connector.finish(redirect_uri=redirect_uri, query=query, flow_data=flow_data)
    except Rejected as exc:
        raise ValidationError(exc.reason) from exc
    except NetworkError as exc:
        raise ValidationError(_("Le réseau ne répond pas, réessayez dans un instant.")) from exc


def connection_with_form(
    *, actor: AbstractBaseUser, collectivite: Collectivite, network: str, form: dict[str, str]
) -> list[ConnectableAccount]:
    require(actor, collectivite, Capability.ACCOUNTS_MANAGE)
    connector = _connector(network)
    try:
        return connector.connect_with_form(form)
    except Rejected as exc:
        raise ValidationError(exc.reason) from exc
    except NetworkError as exc:
        raise ValidationError(_("Le réseau ne répond pas, réessayez dans un instant.")) from exc


def candidates_store(session: Any, network: str, candidates: list[ConnectableAccount]) -> str:
    key = secrets.token_urlsafe(12)
    payload = [
        {
            **asdict(c),
            "token_expires_at": c.token_expires_at.isoformat() if c.token_expires_at else None,
        }
        for c in candidates
    ]
    session.setdefault("parvis_candidates", {})[key] = {
        "network": network,
        "at": timezone.now().isoformat(),
        "data": crypto.encrypt(json.dumps(payload)),
    }
    session.modified = True
    return key


def candidates_load(session: Any, key: str) -> tuple[str, list[ConnectableAccount]] | None:
    entry = session.get("parvis_candidates", {}).get(key)
    if entry is None or timezone.now() - dt.datetime.fromisoformat(entry["at"]) > FLOW_MAX_AGE:
        return None
    candidates = []
    for raw in json.loads(crypto.decrypt(entry["data"])):
        expires = raw.pop("token_expires_at")
        candidates.append(
            ConnectableAccount(
                **raw, token_expires_at=dt.datetime.fromisoformat(expires) if expires else None
            )
        )
    return entry["network"], candidates


def candidates_forget(session: Any, key: str) -> None:
    session.get("parvis_candidates", {}).pop(key, None)
    session.modified = True


@transaction.atomic
def connection_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    network: str,
    candidates: Iterable[ConnectableAccount],
) -> list[SocialAccount]:
    """Create the chosen accounts, or reconnect the ones already there (same network and
    external id): credentials replaced, status back to connected."""
    require(actor, collectivite, Capability.ACCOUNTS_MANAGE)
    saved: list[SocialAccount] = []
    now = timezone.now()
    for candidate in candidates:
        mine = SocialAccount.objects.for_collectivite(collectivite).filter(network=network)
        account = (
            mine.filter(external_id=candidate.external_id).first()
            # declared by hand before, or reconnected under the same handle
            or mine.filter(handle__iexact=candidate.handle).first()
        )
        created = account is None
        if account is None:
            account = SocialAccount(collectivite=collectivite, network=network)
            account.display_name = candidate.display_name
        account.handle = candidate.handle
        account.external_id = candidate.external_id
        # Some networks return no new refresh token on a second consent: keep the old one.
        kept = {
            k: v
            for k, v in (account.credentials or {}).items()
            if k in ("refresh_token", "refresh_jwt", "refresh_token_expires_at")
            and k not in candidate.credentials
        }
        account.credentials = {**kept, **candidate.credentials}
        account.connection_settings = candidate.settings
        account.token_expires_at = candidate.token_expires_at
        account.status = SocialAccount.Status.CONNECTED
        account.status_reason = ""
        account.status_changed_at = now
        account.connected_by = actor
        try:
            with transaction.atomic():
                account.full_clean()
                account.save()
        except IntegrityError as exc:
            raise ValidationError(
                _("Le compte %(handle)s existe déjà dans la collectivité.")
                % {"handle": candidate.handle}
            ) from exc
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.ACCOUNT_CONNECTED,
            obj=account,
            after={"network": network, "handle": account.handle, "reconnected": not created},
        )
        saved.append(account)
    logger.info(
        "connected %d %s account(s) for collectivite %s", len(saved), network, collectivite.pk
    )
    return saved


def sandbox_simulate_revocation(*, actor: AbstractBaseUser, account: SocialAccount) -> None:
    """Demo and tests: the sandbox network revokes the token (the next call finds out)."""
    require(actor, account.collectivite, Capability.ACCOUNTS_MANAGE)
    if account.network != Network.SANDBOX:
        raise ValidationError(_("Seuls les comptes du bac à sable peuvent simuler une révocation."))
    from networks.adapters.sandbox import revoke

    revoke(account.external_id)
