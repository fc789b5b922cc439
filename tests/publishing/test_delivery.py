"""Exactly once, on time, whatever fails: the dispatcher, the publishing service and the
reaper against the sandbox network with injected faults."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from collectivites.models import Notification, SocialAccount
from networks.adapters.sandbox import inject_fault
from networks.models import SandboxPost
from publishing import delivery
from publishing.models import Variant
from tests import factories

pytestmark = pytest.mark.django_db
S = Variant.State


def due_variant(account: SocialAccount, text: str = "Collecte des encombrants mardi.") -> Variant:
    return factories.VariantFactory(
        publication__collectivite=account.collectivite,
        account=account,
        text=text,
        state=S.APPROVED,
        scheduled_at=timezone.now() - dt.timedelta(seconds=1),
    )


def run_once(now: dt.datetime | None = None) -> list[str]:
    """One dispatcher tick; the queued tasks run eagerly (tests/conftest.py)."""
    claims = delivery.dispatch_due(now=now)
    return [
        delivery.publish(
            collectivite_id=c.collectivite_id, variant_id=c.variant_id, lease_token=c.lease_token
        )
        for c in claims
    ]


def reload(variant: Variant) -> Variant:
    return Variant.objects.for_collectivite(variant.collectivite_id).get(pk=variant.pk)


def test_a_due_variant_is_published_once(account: SocialAccount) -> None:
    variant = due_variant(account)
    assert run_once() == ["published"]
    variant = reload(variant)
    assert variant.state == S.PUBLISHED
    assert variant.external_id.startswith("sbp_") and "/bac-a-sable/" in variant.permalink
    assert SandboxPost.objects.count() == 1
    assert run_once() == []  # nothing due any more


def test_future_drafts_and_held_variants_wait(account: SocialAccount) -> None:
    due_variant(account)  # the one that goes out
    factories.VariantFactory(
        publication__collectivite=account.collectivite,
        account=account,
        state=S.APPROVED,
        scheduled_at=timezone.now() + dt.timedelta(hours=1),
    )
    factories.VariantFactory(
        publication__collectivite=account.collectivite,
        account=account,
        state=S.DRAFT,
        scheduled_at=timezone.now() - dt.timedelta(hours=1),
    )
    factories.VariantFactory(
        publication__collectivite=account.collectivite,
        account=account,
        state=S.APPROVED,
        held=True,
        scheduled_at=timezone.now() - dt.timedelta(hours=1),
    )
    assert run_once() == ["published"]


def test_transient_error_is_retried_later(account: SocialAccount, freezer: Any) -> None:
    variant = due_variant(account)
    inject_fault(account.external_id, "transient", operation="publish")
    assert run_once() == ["retry"]
    variant = reload(variant)
    assert variant.state == S.APPROVED and variant.next_attempt_at > timezone.now()
    assert variant.ambiguous, "a Transient while publishing may hide a post that went out"
    assert run_once() == []  # not before its backoff
    freezer.move_to(variant.next_attempt_at + dt.timedelta(seconds=1))
    assert run_once() == ["published"]
    assert SandboxPost.objects.count() == 1


def test_rate_limited_waits_what_the_network_said(account: SocialAccount) -> None:
    variant = due_variant(account)
    inject_fault(account.external_id, "rate_limited", operation="publish")
    before = timezone.now()
    assert run_once() == ["retry"]
    waited = reload(variant).next_attempt_at - before
    assert dt.timedelta(seconds=29) <= waited <= dt.timedelta(seconds=35)


def test_lost_answer_is_resolved_without_posting_twice(
    account: SocialAccount, freezer: Any
) -> None:
    variant = due_variant(account)
    inject_fault(account.external_id, "transient", operation="publish", lost_answer=True)
    assert run_once() == ["retry"]
    assert SandboxPost.objects.count() == 1  # it did go out
    freezer.move_to(reload(variant).next_attempt_at + dt.timedelta(seconds=1))
    assert run_once() == ["published-found"]
    variant = reload(variant)
    assert variant.state == S.PUBLISHED and variant.external_id
    assert SandboxPost.objects.count() == 1


def test_rejected_fails_with_the_reason_and_tells_the_author(account: SocialAccount) -> None:
    variant = due_variant(account)
    inject_fault(account.external_id, "rejected", operation="publish")
    assert run_once() == ["failed-rejected"]
    variant = reload(variant)
    assert variant.state == S.FAILED
    assert "refusé ce contenu" in variant.error_message
    note = Notification.objects.for_collectivite(account.collectivite).get(
        user=variant.publication.author
    )
    assert "n'a pas pu être publiée" in note.message


def test_revoked_token_fails_the_variant_and_the_account(account: SocialAccount) -> None:
    variant = due_variant(account)
    inject_fault(account.external_id, "auth_expired", probability=1.0)
    assert run_once() == ["failed-auth"]
    assert "reconnecté" in reload(variant).error_message
    account.refresh_from_db()
    assert account.status == SocialAccount.Status.TO_RECONNECT


def test_limits_are_a_rejection_not_a_retry(account: SocialAccount) -> None:
    variant = due_variant(account, text="x" * 6000)
    assert run_once() == ["failed-rejected"]
    assert "6000 caractères" in reload(variant).error_message


def test_a_duplicate_task_does_nothing(account: SocialAccount) -> None:
    variant = due_variant(account)
    (claim,) = delivery.dispatch_due()
    args = {
        "collectivite_id": claim.collectivite_id,
        "variant_id": claim.variant_id,
        "lease_token": claim.lease_token,
    }
    assert delivery.publish(**args) == "published"
    assert delivery.publish(**args) == "skipped"
    assert SandboxPost.objects.count() == 1
    assert reload(variant).state == S.PUBLISHED


def test_a_dead_worker_s_lease_is_reaped_and_the_post_not_duplicated(
    account: SocialAccount, freezer: Any
) -> None:
    variant = due_variant(account)
    (claim,) = delivery.dispatch_due()
    # The worker posts, then dies before recording it.
    from networks.adapters.sandbox import SandboxAdapter
    from networks.base import Account, PostContent

    SandboxAdapter().publish(
        Account(
            network="sandbox", external_id=account.external_id, credentials=account.credentials
        ),
        PostContent(text=variant.text, idempotency_key=str(variant.idempotency_key)),
    )
    freezer.move_to(timezone.now() + delivery.lease_duration() + dt.timedelta(seconds=1))
    assert delivery.reap_expired_leases() == 1
    assert reload(variant).ambiguous
    assert run_once() == ["published-found"]
    assert SandboxPost.objects.count() == 1
    late = delivery.publish(
        collectivite_id=claim.collectivite_id,
        variant_id=claim.variant_id,
        lease_token=claim.lease_token,
    )
    assert late == "skipped"


def test_gives_up_after_max_attempts(account: SocialAccount, freezer: Any) -> None:
    variant = due_variant(account)
    inject_fault(account.external_id, "transient", probability=1.0)
    outcome = []
    for _ in range(delivery.MAX_ATTEMPTS + 1):
        outcome += run_once()
        nxt = reload(variant).next_attempt_at
        if nxt:
            freezer.move_to(nxt + dt.timedelta(seconds=1))
    assert outcome[-1] == "gave-up"
    assert reload(variant).state in (S.FAILED, S.UNCONFIRMED)


def test_backoff_grows_and_is_capped() -> None:
    assert delivery.backoff(1) <= dt.timedelta(seconds=15)
    assert delivery.backoff(5) >= dt.timedelta(seconds=120)
    assert delivery.backoff(30) <= dt.timedelta(seconds=delivery.BACKOFF_CAP_SECONDS)


def test_links_to_the_collectivite_s_site_carry_utm_parameters(account: SocialAccount) -> None:
    collectivite = account.collectivite
    collectivite.website_url = "https://www.ville-a.fr"
    collectivite.save()
    variant = due_variant(
        account, text="Inscriptions sur https://www.ville-a.fr/piscine ou https://autre.fr/x"
    )
    variant.publication.campaign = "Été 2027"
    variant.publication.save()
    assert run_once() == ["published"]
    text = SandboxPost.objects.get().text
    assert (
        "https://www.ville-a.fr/piscine?utm_source=sandbox&utm_medium=social&utm_campaign=ete-2027"
        in text
    )
    assert "https://autre.fr/x" in text and "autre.fr/x?" not in text
    collectivite.utm_enabled = False
    collectivite.save()
    due_variant(account, text="Voir https://www.ville-a.fr/agenda")
    run_once()
    assert (
        "https://www.ville-a.fr/agenda" in SandboxPost.objects.order_by("-created_at").first().text
    )
    assert "utm_" not in SandboxPost.objects.order_by("-created_at").first().text


def test_backpressure_keeps_what_is_in_flight_under_the_cap(
    account: SocialAccount, settings: Any
) -> None:
    settings.PARVIS_DISPATCH_MAX_IN_FLIGHT = 3
    for n in range(5):
        due_variant(account, text=f"Annonce {n}")
    first = delivery.dispatch_due()
    assert len(first) == 3
    assert delivery.dispatch_due() == []  # three still in flight
    delivery.publish(
        collectivite_id=first[0].collectivite_id,
        variant_id=first[0].variant_id,
        lease_token=first[0].lease_token,
    )
    assert len(delivery.dispatch_due()) == 1


def test_urgent_alerts_jump_the_queue(account: SocialAccount, world: Any) -> None:
    from publishing import alerts

    for n in range(3):
        due_variant(account, text=f"Ancienne annonce {n}")
    alert = alerts.alert_publish(
        actor=world.members["validateur"],
        collectivite=account.collectivite,
        kind="meteo",
        title="Orage",
        text="Orage violent attendu.",
        account_ids=[account.pk],
    )
    (claim,) = delivery.dispatch_due(limit=1)
    assert (
        Variant.objects.for_collectivite(account.collectivite).get(pk=claim.variant_id).publication
        == alert
    )


# --- batches ----------------------------------------------------------------------------------


def test_claims_are_queued_in_batches_per_account_urgent_first(
    account: SocialAccount, settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from publishing import tasks

    settings.PARVIS_PUBLISH_BATCH_SIZE = 2
    other = factories.SocialAccountFactory(collectivite=account.collectivite, network="sandbox")
    ordinary = [due_variant(account) for _ in range(3)]
    elsewhere = due_variant(other)
    alert = due_variant(other)
    alert.publication.urgent = True
    alert.publication.save()
    queued: list[tuple[int, list[list[Any]]]] = []
    monkeypatch.setattr(tasks.publish_variants, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        claims = delivery.dispatch_due()
    assert len(claims) == 5
    # The urgent alert's account comes first; each account's claims are cut in batches of 2.
    assert [[pk for pk, _token in batch] for _cid, batch in queued] == [
        [alert.pk, elsewhere.pk],
        [ordinary[0].pk, ordinary[1].pk],
        [ordinary[2].pk],
    ]
    # A batch shares a lease token; each variant is one attempt further.
    for _cid, batch in queued:
        assert len({token for _pk, token in batch}) == 1
    assert {reload(v).attempts for v in ordinary} == {1}
    assert {reload(v).state for v in ordinary} == {S.PUBLISHING}


def test_a_batch_run_again_after_its_worker_died_posts_nothing_twice(
    account: SocialAccount, monkeypatch: Any
) -> None:
    """The worker dies mid-batch, right after the network took the second post; the broker
    hands the task to another worker (acks_late): the first is already recorded, the second
    is found on the network, the third goes out, each once."""
    from networks.adapters.sandbox import SandboxAdapter

    variants = [due_variant(account, text=f"Annonce n°{n} : marché de Noël.") for n in range(3)]
    claims = delivery.dispatch_due()
    batch = [(c.variant_id, c.lease_token) for c in claims]
    real_publish = SandboxAdapter.publish
    calls = {"n": 0}

    class WorkerKilled(BaseException):
        pass

    def dies_after_the_second_post(self: Any, ref: Any, content: Any) -> Any:
        published = real_publish(self, ref, content)
        calls["n"] += 1
        if calls["n"] == 2:
            raise WorkerKilled
        return published

    monkeypatch.setattr(SandboxAdapter, "publish", dies_after_the_second_post)
    with pytest.raises(WorkerKilled):
        delivery.publish_many(collectivite_id=account.collectivite_id, claims=batch)
    # Not yet answered, they are now known to be ambiguous.
    assert [reload(v).state for v in variants] == [S.PUBLISHED, S.PUBLISHING, S.PUBLISHING]
    assert reload(variants[1]).ambiguous and reload(variants[2]).ambiguous
    assert not reload(variants[0]).ambiguous

    monkeypatch.setattr(SandboxAdapter, "publish", real_publish)
    outcomes = delivery.publish_many(collectivite_id=account.collectivite_id, claims=batch)
    assert outcomes == ["skipped", "published-found", "published"]
    assert SandboxPost.objects.count() == 3
    for variant in variants:
        variant = reload(variant)
        assert variant.state == S.PUBLISHED and not variant.ambiguous
        assert SandboxPost.objects.filter(idempotency_key=variant.idempotency_key).count() == 1


def test_a_refusal_in_a_batch_leaves_the_others_alone(account: SocialAccount) -> None:
    good = due_variant(account)
    too_long = due_variant(account, text="x" * 6000)
    outcomes = run_once()
    assert sorted(outcomes) == ["failed-rejected", "published"]
    assert reload(good).state == S.PUBLISHED
    refused = reload(too_long)
    # The network said no: nothing may have gone out, so nothing is left ambiguous.
    assert refused.state == S.FAILED and not refused.ambiguous


def test_a_batch_s_outcomes_are_recorded_together(account: SocialAccount) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.models import AuditEvent

    variants = [due_variant(account, text=f"Annonce n°{n}.") for n in range(3)]
    variants.append(due_variant(account, text="x" * 6000))  # refused by the network
    claims = delivery.dispatch_due()
    with CaptureQueriesContext(connection) as queries:
        outcomes = delivery.publish_many(
            collectivite_id=account.collectivite_id,
            claims=[(c.variant_id, c.lease_token) for c in claims],
        )
    assert outcomes == ["published"] * 3 + ["failed-rejected"]
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "publishing_variant"')]
    assert len(updates) == 2  # marked ambiguous before the calls; the outcomes, all at once
    for variant in variants[:3]:
        variant = reload(variant)
        assert variant.state == S.PUBLISHED and variant.external_id and not variant.ambiguous
        assert variant.lease_token is None
    refused = reload(variants[3])
    assert refused.state == S.FAILED and "6000 caractères" in refused.error_message
    events = AuditEvent.objects.for_collectivite(account.collectivite_id)
    assert events.filter(action="variant.published").count() == 3
    assert events.filter(action="variant.failed").count() == 1


def test_an_outcome_whose_lease_was_taken_back_is_not_recorded(
    account: SocialAccount, monkeypatch: Any
) -> None:
    """The reaper took the variant back while the network was answering: the new owner
    decides, this worker's outcome is dropped."""
    from networks.adapters.sandbox import SandboxAdapter

    variant = due_variant(account)
    (claim,) = delivery.dispatch_due()
    real_publish = SandboxAdapter.publish

    def slow_answer(self: Any, ref: Any, content: Any) -> Any:
        published = real_publish(self, ref, content)
        Variant.objects.for_collectivite(account.collectivite_id).filter(pk=variant.pk).update(
            state=S.APPROVED, lease_token=None, ambiguous=True
        )
        return published

    monkeypatch.setattr(SandboxAdapter, "publish", slow_answer)
    assert (
        delivery.publish(
            collectivite_id=claim.collectivite_id,
            variant_id=claim.variant_id,
            lease_token=claim.lease_token,
        )
        == "published"
    )
    variant = reload(variant)
    assert variant.state == S.APPROVED and variant.ambiguous and not variant.external_id
    monkeypatch.setattr(SandboxAdapter, "publish", real_publish)
    assert run_once() == ["published-found"]
    assert SandboxPost.objects.count() == 1
