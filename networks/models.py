"""The sandbox network's own data (it plays the part of a network's servers), and fault
injection. Keyed by the sandbox account's external id, like a real network's data: these
rows are not Parvis tenant data and know nothing of the apps' models. Also Parvis's app
registrations on Mastodon instances (``MastodonApp``)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from networks.fields import EncryptedJSONField


class SandboxPost(models.Model):
    external_id = models.CharField(max_length=64, unique=True, default="")
    account_external_id = models.CharField(max_length=200, db_index=True)
    author_handle = models.CharField(max_length=200)
    text = models.TextField()
    link = models.URLField(max_length=2000, blank=True)
    media_count = models.PositiveSmallIntegerField(default=0)
    alt_texts = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.external_id

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.external_id:
            self.external_id = f"sbp_{uuid.uuid4().hex[:20]}"
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class SandboxItem(models.Model):
    """A citizen's comment, reply, mention or message -- or the page's own reply."""

    class Kind(models.TextChoices):
        COMMENT = "comment"
        REPLY = "reply"
        MENTION = "mention"
        MESSAGE = "message"

    external_id = models.CharField(max_length=64, unique=True, default="")
    account_external_id = models.CharField(max_length=200, db_index=True)
    post = models.ForeignKey(
        SandboxPost, null=True, blank=True, on_delete=models.CASCADE, related_name="items"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    category = models.CharField(max_length=20, blank=True)  # what the simulator meant
    author_id = models.CharField(max_length=200)
    author_handle = models.CharField(max_length=200)
    author_name = models.CharField(max_length=200)
    text = models.TextField()
    by_page = models.BooleanField(default=False)
    # Simulated citizens write "over the following minutes": an item exists from
    # created_at on, and the network shows nothing before that.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    hidden = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    # The network lists what changed since a cursor: a new item (changed_at = created_at),
    # one its author edited (edited_at) or removed (deleted, listed as a tombstone).
    changed_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["account_external_id", "created_at", "id"]),
            models.Index(
                fields=["account_external_id", "changed_at", "id"], name="sandbox_item_changes"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.external_id:
            self.external_id = f"sbc_{uuid.uuid4().hex[:20]}"
        if self.changed_at is None:
            self.changed_at = self.created_at
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class SandboxFault(models.Model):
    """Tell the sandbox to fail: on the next ``remaining`` calls, or with ``probability``.

    ``lost_answer``: the call succeeds on the network's side, then the answer is lost (the
    adapter raises Transient after doing the work) -- the case ``find_published`` exists for.
    """

    class Error(models.TextChoices):
        TRANSIENT = "transient"
        RATE_LIMITED = "rate_limited"
        AUTH_EXPIRED = "auth_expired"
        REJECTED = "rejected"
        TIMEOUT = "timeout"

    account_external_id = models.CharField(max_length=200, db_index=True)
    operation = models.CharField(max_length=40, blank=True)  # "" = every operation
    error = models.CharField(max_length=20, choices=Error.choices)
    remaining = models.PositiveIntegerField(null=True, blank=True)
    probability = models.FloatField(null=True, blank=True)
    lost_answer = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.account_external_id}: {self.error}"


class MastodonApp(models.Model):
    """Parvis's registration on one Mastodon instance (``POST /api/v1/apps``), reused by
    every later connection to that instance with the same callback and scopes instead of
    registering a new app each time. Parvis's own app, not a collectivité's: not tenant
    data. ``credentials`` ({client_id, client_secret}) are encrypted at rest."""

    instance_url = models.URLField(max_length=300)
    redirect_uri = models.URLField(max_length=500)
    scopes = models.CharField(max_length=200)
    credentials = EncryptedJSONField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance_url", "redirect_uri", "scopes"], name="mastodon_app_unique"
            )
        ]

    def __str__(self) -> str:
        return self.instance_url
