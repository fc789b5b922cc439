"""The sandbox network: a real adapter with no credentials and no internet.

It keeps its "servers" in the database (``networks.models``). A published post gets a
permalink inside Parvis (``/bac-a-sable/<id>/``) and simulated citizens comment on it
over the following minutes (items dated in the future appear when their time comes),
with the mix a town hall sees: questions, complaints, thanks, criticism, the odd insult,
spam, off-topic, and now and then an emergency. Metrics grow with a post's age.

``inject_fault`` (or ``manage.py sandbox_fault``) makes it fail on purpose, for the
reliability tests: each of the five errors, timeouts, and "it worked but the answer was
lost".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
import secrets
import time
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from networks import sandbox_corpus as corpus
from networks.base import (
    Account,
    AccountMetrics,
    Adapter,
    AuthExpired,
    Author,
    InboxEntry,
    ItemKind,
    ItemRef,
    Limits,
    Page,
    PostContent,
    PostMetrics,
    Published,
    RateLimited,
    Rejected,
    Transient,
    same_text,
)
from networks.connect import ConnectableAccount, Connector, FormField
from networks.models import SandboxFault, SandboxItem, SandboxPost

NETWORK = "sandbox"
PAGE_SIZE = 100


def permalink(path: str) -> str:
    return settings.PARVIS_BASE_URL + path


def sandbox_external_id(handle: str) -> str:
    """The sandbox names an account after its handle, so reconnecting finds it again."""
    return f"sba_{hashlib.sha256(handle.lstrip('@').lower().encode()).hexdigest()[:16]}"


def inject_fault(
    account_external_id: str,
    error: str,
    *,
    operation: str = "",
    remaining: int | None = 1,
    probability: float | None = None,
    lost_answer: bool = False,
) -> SandboxFault:
    """Make the sandbox fail: on the next ``remaining`` calls of ``operation`` ("" = any),
    or on each call with ``probability`` (then ``remaining`` is ignored)."""
    return SandboxFault.objects.create(
        account_external_id=account_external_id,
        operation=operation,
        error=SandboxFault.Error(error),
        remaining=None if probability is not None else remaining,
        probability=probability,
        lost_answer=lost_answer,
    )


def clear_faults(account_external_id: str) -> None:
    SandboxFault.objects.filter(account_external_id=account_external_id).delete()


def _raise(error: str, operation: str) -> None:
    message = f"sandbox: injected {error} on {operation}"
    if error == SandboxFault.Error.RATE_LIMITED:
        raise RateLimited(message, retry_after=30.0, network=NETWORK, code="429")
    if error == SandboxFault.Error.AUTH_EXPIRED:
        raise AuthExpired(message, network=NETWORK, code="token_revoked")
    if error == SandboxFault.Error.REJECTED:
        raise Rejected(
            "Le bac à sable a refusé ce contenu (refus simulé).",
            message,
            network=NETWORK,
            code="rejected",
        )
    if error == SandboxFault.Error.TIMEOUT:
        raise Transient(f"sandbox: timeout on {operation}", network=NETWORK, code="timeout")
    raise Transient(message, network=NETWORK, code="503")


def _fault_for(account: Account, operation: str) -> SandboxFault | None:
    """The fault that applies to this call, consumed if it counts down."""
    if not SandboxFault.objects.filter(account_external_id=account.external_id).exists():
        return None  # the common case, without a locking transaction
    with transaction.atomic():
        faults = (
            SandboxFault.objects.select_for_update()
            .filter(account_external_id=account.external_id)
            .filter(Q(operation="") | Q(operation=operation))
            .order_by("created_at", "id")
        )
        for fault in faults:
            if fault.probability is not None:
                if random.random() < fault.probability:  # noqa: S311 -- simulation
                    return fault
                continue
            if fault.remaining and fault.remaining > 0:
                if fault.remaining == 1:
                    fault.delete()
                else:
                    SandboxFault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
                return fault
    return None


def _check_credentials(account: Account) -> None:
    if not account.credentials.get("token"):
        raise AuthExpired("sandbox: no token stored", network=NETWORK, code="no_token")


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:12], 16)


def _entry(item: SandboxItem) -> InboxEntry:
    parent = item.parent
    root = parent
    while root is not None and root.parent_id is not None:
        root = root.parent
    return InboxEntry(
        kind=ItemKind(item.kind),
        external_id=item.external_id,
        author=Author(
            external_id=item.author_id,
            handle=item.author_handle,
            display_name=item.author_name,
        ),
        text=item.text,
        created_at=item.created_at,
        post_external_id=item.post.external_id if item.post_id else None,
        parent_id=parent.external_id if parent else None,
        root_id=root.external_id if root else None,
        permalink=permalink(
            reverse("sandbox_post", kwargs={"external_id": item.post.external_id})
            + f"#{item.external_id}"
        )
        if item.post_id
        else "",
        language="fr",
        raw={"category": item.category, "id": item.external_id},
        edited_at=item.edited_at,
        removed=item.deleted,
    )


def citizen_edits(external_id: str, text: str) -> None:
    """The citizen rewrites their message; the next collection sees the new text."""
    now = timezone.now()
    SandboxItem.objects.filter(external_id=external_id, deleted=False).update(
        text=text, edited_at=now, changed_at=now
    )


def citizen_removes(external_id: str) -> None:
    """The citizen removes their message; the next collection sees its tombstone."""
    SandboxItem.objects.filter(external_id=external_id).update(
        deleted=True, changed_at=timezone.now()
    )


def simulate_reactions(post: SandboxPost, handle: str) -> list[SandboxItem]:
    """Citizens answer over the following minutes; deterministic for a given post."""
    rng = random.Random(_seed(post.external_id))  # noqa: S311 -- simulation
    created: list[SandboxItem] = []
    citizens = list(corpus.CITIZENS)
    for _ in range(rng.randint(2, 6)):
        category, text = rng.choice(corpus.CORPUS)
        login, name = rng.choice(citizens)
        if login in corpus.SPAMMERS and category != "spam":
            login, name = citizens[0]
        if category == "spam":
            login, name = rng.choice([c for c in citizens if c[0] in corpus.SPAMMERS])
        comment = SandboxItem.objects.create(
            account_external_id=post.account_external_id,
            post=post,
            kind=SandboxItem.Kind.COMMENT,
            category=category,
            author_id=f"sbu_{login}",
            author_handle=login,
            author_name=name,
            text=text.replace("{lieu}", rng.choice(corpus.PLACES)),
            created_at=post.created_at + dt.timedelta(minutes=rng.randint(1, 45)),
        )
        created.append(comment)
        if rng.random() < 0.3:
            login2, name2 = rng.choice([c for c in citizens if c[0] not in corpus.SPAMMERS])
            created.append(
                SandboxItem.objects.create(
                    account_external_id=post.account_external_id,
                    post=post,
                    parent=comment,
                    kind=SandboxItem.Kind.REPLY,
                    category="reponse_citoyen",
                    author_id=f"sbu_{login2}",
                    author_handle=login2,
                    author_name=name2,
                    text=rng.choice(
                        [
                            "Pareil pour nous, on attend une réponse.",
                            "Je confirme, c'est la même chose dans mon quartier.",
                            "Il me semble que c'était indiqué sur le site de la mairie.",
                            "+1, merci de nous tenir au courant.",
                        ]
                    ),
                    created_at=comment.created_at + dt.timedelta(minutes=rng.randint(2, 30)),
                )
            )
    if rng.random() < 0.5:
        category, text = rng.choice(corpus.MENTIONS)
        login, name = rng.choice([c for c in citizens if c[0] not in corpus.SPAMMERS])
        created.append(
            SandboxItem.objects.create(
                account_external_id=post.account_external_id,
                kind=SandboxItem.Kind.MENTION,
                category=category,
                author_id=f"sbu_{login}",
                author_handle=login,
                author_name=name,
                text=text.replace("{handle}", handle.lstrip("@")).replace(
                    "{lieu}", rng.choice(corpus.PLACES)
                ),
                created_at=post.created_at + dt.timedelta(minutes=rng.randint(10, 120)),
            )
        )
    if rng.random() < 0.2:
        category, text = rng.choice(corpus.MESSAGES)
        login, name = rng.choice([c for c in citizens if c[0] not in corpus.SPAMMERS])
        created.append(
            SandboxItem.objects.create(
                account_external_id=post.account_external_id,
                kind=SandboxItem.Kind.MESSAGE,
                category=category,
                author_id=f"sbu_{login}",
                author_handle=login,
                author_name=name,
                text=text,
                created_at=post.created_at + dt.timedelta(minutes=rng.randint(5, 90)),
            )
        )
    return created


class SandboxAdapter(Adapter):
    network = NETWORK
    # Generous, Facebook-like limits, so demo content passes unless it is really too long.
    limits: ClassVar[Limits] = Limits(
        max_chars=5000,
        max_images=10,
        max_videos=1,
        image_formats=("image/jpeg", "image/png", "image/gif", "image/webp"),
        video_formats=("video/mp4",),
        max_image_bytes=8_000_000,
        max_video_bytes=200_000_000,
        alt_text=True,
        alt_text_max=1000,
        threads=True,
        link_preview=True,
    )

    def _call(self, account: Account, operation: str) -> SandboxFault | None:
        """Apply injected faults. Returns a ``lost_answer`` fault to raise after the work."""
        _check_credentials(account)
        fault = _fault_for(account, operation)
        if fault is None:
            return None
        if fault.lost_answer:
            return fault
        _raise(fault.error, operation)
        return None

    def publish(self, account: Account, content: PostContent) -> Published:
        lost = self._call(account, "publish")
        problems = self.limits.problems(content)
        if problems:
            raise Rejected(" ".join(problems), network=NETWORK, code="limits")
        with transaction.atomic():
            post = SandboxPost.objects.create(
                account_external_id=account.external_id,
                author_handle=account.handle,
                text=content.text,
                link=content.link or "",
                media_count=len(content.media),
                alt_texts=[m.alt_text for m in content.media],
                idempotency_key=content.idempotency_key,
            )
            simulate_reactions(post, account.handle)
        # A network's answer takes time; system tests and benchmarks set it.
        latency = getattr(settings, "PARVIS_SANDBOX_LATENCY_MS", 0)
        if latency:
            time.sleep(latency / 1000)
        if lost is not None:
            _raise(SandboxFault.Error.TIMEOUT, "publish (answer lost)")
        return self._published(post)

    def _published(self, post: SandboxPost) -> Published:
        return Published(
            external_id=post.external_id,
            permalink=permalink(reverse("sandbox_post", kwargs={"external_id": post.external_id})),
            published_at=post.created_at,
        )

    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]:
        """What changed since the cursor, oldest change first: new items, items their
        author edited, and tombstones of those removed (on a first call, without a cursor,
        only what is still there)."""
        self._call(account, "fetch_inbox")
        qs = (
            SandboxItem.objects.filter(
                account_external_id=account.external_id,
                by_page=False,
                changed_at__lte=timezone.now(),
            )
            .select_related("post", "parent__parent__parent")
            .order_by("changed_at", "id")
        )
        if cursor:
            when, _sep, last_id = cursor.partition("|")
            since = dt.datetime.fromisoformat(when)
            qs = qs.filter(Q(changed_at__gt=since) | Q(changed_at=since, id__gt=int(last_id)))
        else:
            qs = qs.filter(deleted=False)
        items = list(qs[: PAGE_SIZE + 1])
        has_more = len(items) > PAGE_SIZE
        items = items[:PAGE_SIZE]
        next_cursor = f"{items[-1].changed_at.isoformat()}|{items[-1].pk}" if items else cursor
        return Page(items=[_entry(i) for i in items], next_cursor=next_cursor, has_more=has_more)

    def _item(self, account: Account, item: ItemRef) -> SandboxItem:
        found = SandboxItem.objects.filter(
            account_external_id=account.external_id, external_id=item.external_id
        ).first()
        if found is None or found.deleted:
            raise Rejected(
                "Ce message n'existe plus sur le réseau.", network=NETWORK, code="not_found"
            )
        return found

    def reply(self, account: Account, item: ItemRef, text: str) -> Published:
        lost = self._call(account, "reply")
        if not text.strip():
            raise Rejected("La réponse est vide.", network=NETWORK, code="empty")
        target = self._item(account, item)
        kind = (
            SandboxItem.Kind.MESSAGE
            if target.kind == SandboxItem.Kind.MESSAGE
            else SandboxItem.Kind.REPLY
        )
        answer = SandboxItem.objects.create(
            account_external_id=account.external_id,
            post=target.post,
            parent=target,
            kind=kind,
            author_id=account.external_id,
            author_handle=account.handle,
            author_name=account.handle,
            text=text,
            by_page=True,
        )
        if lost is not None:
            _raise(SandboxFault.Error.TIMEOUT, "reply (answer lost)")
        link = (
            permalink(reverse("sandbox_post", kwargs={"external_id": target.post.external_id}))
            + f"#{answer.external_id}"
            if target.post_id
            else ""
        )
        return Published(
            external_id=answer.external_id, permalink=link, published_at=answer.created_at
        )

    def hide(self, account: Account, item: ItemRef) -> None:
        self._call(account, "hide")
        SandboxItem.objects.filter(pk=self._item(account, item).pk).update(hidden=True)

    def unhide(self, account: Account, item: ItemRef) -> None:
        self._call(account, "unhide")
        SandboxItem.objects.filter(pk=self._item(account, item).pk).update(hidden=False)

    def delete(self, account: Account, item: ItemRef) -> None:
        self._call(account, "delete")
        SandboxItem.objects.filter(pk=self._item(account, item).pk).update(deleted=True)

    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics:
        self._call(account, "fetch_account_metrics")
        rng = random.Random(_seed(account.external_id))  # noqa: S311 -- simulation
        base = rng.randint(800, 6000)
        days = (day - dt.date(2026, 1, 1)).days
        followers = base + max(0, days) * rng.randint(1, 4)
        posts = SandboxPost.objects.filter(
            account_external_id=account.external_id, created_at__date=day, deleted=False
        ).count()
        impressions = int(followers * (0.15 + 0.2 * posts))
        return AccountMetrics(
            day=day,
            followers=followers,
            impressions=impressions,
            reach=int(impressions * 0.7),
            profile_visits=int(followers * 0.01) + posts * 5,
            link_clicks=posts * rng.randint(3, 25),
        )

    def fetch_post_metrics(self, account: Account, external_ids: list[str]) -> list[PostMetrics]:
        self._call(account, "fetch_post_metrics")
        now = timezone.now()
        posts = SandboxPost.objects.filter(
            account_external_id=account.external_id, external_id__in=external_ids, deleted=False
        )
        results = []
        for post in posts:
            rng = random.Random(_seed(post.external_id, "metrics"))  # noqa: S311
            age_hours = max(0.0, (now - post.created_at).total_seconds() / 3600)
            growth = min(1.0, age_hours / 48)
            impressions = int(rng.randint(300, 4000) * growth)
            visible = post.items.filter(created_at__lte=now, deleted=False, by_page=False)
            results.append(
                PostMetrics(
                    external_id=post.external_id,
                    impressions=impressions,
                    reach=int(impressions * 0.75),
                    reactions=int(impressions * rng.uniform(0.01, 0.06)),
                    comments=visible.count(),
                    shares=int(impressions * rng.uniform(0.0, 0.01)),
                    saves=None,
                    link_clicks=int(impressions * rng.uniform(0.0, 0.03)) if post.link else 0,
                    video_views=None,
                )
            )
        return results

    def search(self, account: Account, query: str, cursor: str | None) -> Page[InboxEntry]:
        """What anyone said on the sandbox containing ``query`` (case-insensitive), oldest
        first, as MENTION entries. The cursor is "created_at|id" of the last one returned,
        as for ``fetch_inbox``: simulated comments dated later are found when their time
        comes, never skipped."""
        self._call(account, "search")
        qs = (
            SandboxItem.objects.filter(
                text__icontains=query, by_page=False, deleted=False, created_at__lte=timezone.now()
            )
            .select_related("post", "parent__parent__parent")
            .order_by("created_at", "id")
        )
        if cursor and "|" in cursor:
            when, _sep, last_id = cursor.partition("|")
            since = dt.datetime.fromisoformat(when)
            qs = qs.filter(Q(created_at__gt=since) | Q(created_at=since, id__gt=int(last_id)))
        items = list(qs[: PAGE_SIZE + 1])
        has_more = len(items) > PAGE_SIZE
        items = items[:PAGE_SIZE]
        next_cursor = f"{items[-1].created_at.isoformat()}|{items[-1].pk}" if items else cursor
        return Page(
            items=[dataclasses.replace(_entry(i), kind=ItemKind.MENTION) for i in items],
            next_cursor=next_cursor,
            has_more=has_more,
        )

    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        self._call(account, "find_published")
        for post in SandboxPost.objects.filter(
            account_external_id=account.external_id, created_at__gte=since, deleted=False
        ).order_by("created_at"):
            if post.idempotency_key == content.idempotency_key or same_text(
                post.text, content.text
            ):
                return self._published(post)
        return None


class SandboxConnector(Connector):
    network = NETWORK
    uses_oauth = False
    form_fields = (
        FormField("handle", "Identifiant sur le bac à sable", help_text="Par exemple @maville"),
        FormField("display_name", "Nom affiché"),
    )

    def connect_with_form(self, form: dict[str, str]) -> list[ConnectableAccount]:
        handle = "@" + (form.get("handle") or "").strip().lstrip("@")
        if len(handle) < 3:
            raise Rejected("Indiquez un identifiant d'au moins deux caractères.", network=NETWORK)
        display = (form.get("display_name") or "").strip() or handle
        external_id = sandbox_external_id(handle)
        # A new connection is a new token: revocations simulated on the old one end here.
        SandboxFault.objects.filter(
            account_external_id=external_id, error=SandboxFault.Error.AUTH_EXPIRED
        ).delete()
        return [
            ConnectableAccount(
                external_id=external_id,
                handle=handle,
                display_name=display,
                credentials={"token": secrets.token_urlsafe(24)},
                settings={},
            )
        ]


def revoke(account_external_id: str) -> Any:
    """Simulate the network revoking the token: every call fails until reconnected."""
    return inject_fault(account_external_id, SandboxFault.Error.AUTH_EXPIRED, probability=1.0)
