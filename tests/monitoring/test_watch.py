"""The watch (veille): terms searched on the networks, mentions stored once in the inbox,
and an alert, once, when the hourly volume clearly exceeds its usual level."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import responses
from django.core import mail
from django.utils import timezone

from collectivites.models import Notification
from collectivites.permissions import Role
from monitoring import selectors, services, spikes
from monitoring.models import InboxItem, Watch, WatchAlert, WatchCursor, WatchHit
from networks.models import SandboxItem
from tests import factories

pytestmark = pytest.mark.django_db
MASTODON = Path(__file__).parent.parent / "networks" / "payloads" / "mastodon"


# --- the rule, on hand-built series -------------------------------------------------------------


def test_a_quiet_history_alerts_only_from_the_minimum() -> None:
    history = [0] * 28
    assert not spikes.judge(9, history, k=4, minimum=10).spike
    verdict = spikes.judge(10, history, k=4, minimum=10)
    assert verdict.spike and verdict.median == 0 and verdict.threshold == 10


def test_a_busy_hour_is_judged_against_its_own_usual_level() -> None:
    # noon is busy every day: 40 to 50 mentions; 55 is within the usual spread
    history = [40, 42, 45, 50, 44, 41, 47, 43, 46, 48, 45, 44, 42, 49] * 2
    centre, bar = spikes.threshold(history, k=4, minimum=10)
    assert centre == 44.5
    assert bar == pytest.approx(44.5 + 4 * 1.4826 * 2.5)  # MAD = 2.5: about 59.3
    assert not spikes.judge(55, history, k=4, minimum=10).spike
    assert spikes.judge(70, history, k=4, minimum=10).spike


def test_one_earlier_spike_does_not_raise_the_bar() -> None:
    calm = [3, 4, 2, 3, 5, 3, 4, 2, 3, 4, 3, 3, 2, 4] * 2
    with_spike = [*calm[:-1], 400]
    assert spikes.threshold(calm, k=4, minimum=10) == spikes.threshold(with_spike, k=4, minimum=10)
    assert spikes.judge(20, with_spike, k=4, minimum=10).spike


def test_a_flat_history_needs_more_than_one_extra_mention() -> None:
    flat = [12] * 28  # MAD = 0: the spread floor of 1 applies
    assert not spikes.judge(13, flat, k=4, minimum=10).spike
    assert not spikes.judge(16, flat, k=4, minimum=10).spike
    assert spikes.judge(17, flat, k=4, minimum=10).spike


def test_no_history_yet_uses_the_minimum() -> None:
    assert spikes.judge(10, [], k=4, minimum=10).spike
    assert not spikes.judge(9, [], k=4, minimum=10).spike


# --- searching: the sandbox ----------------------------------------------------------------------


def _said(text: str, minutes_ago: int = 5, author: str = "@habitant") -> SandboxItem:
    """Someone posts on the sandbox, elsewhere than on the collectivité's pages."""
    return SandboxItem.objects.create(
        account_external_id="sba_someone_else",
        kind=SandboxItem.Kind.COMMENT,
        author_id=f"id-{author}",
        author_handle=author,
        author_name=author.lstrip("@").title(),
        text=text,
        created_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
    )


def _watch(world: Any, **data: Any) -> Watch:
    values = {"name": "Piscine", "terms": ["piscine des Ormes"], **data}
    return services.watch_save(
        actor=world.members[Role.MODERATEUR], collectivite=world.a, data=values
    )


def test_watch_stores_mentions_once_and_skips_excluded_terms(world: Any, account: Any) -> None:
    _said("La piscine des Ormes est encore fermée ?")
    _said("Vive la piscine des Ormes, merci aux maîtres-nageurs", author="@lea")
    _said("Piscine des ormes : promo sur les maillots, cliquez ici", author="@spam")
    _said("Rien à voir avec le sujet")
    watch = _watch(world, excluded_terms=["promo"])
    assert services.watch_run(watch=watch) == 2
    mentions = selectors.watch_mentions(watch=watch)
    assert mentions.count() == 2
    assert {m.kind for m in mentions} == {InboxItem.Kind.MENTION}
    assert all(m.account == account for m in mentions)
    # nothing twice: the cursor resumes, and a later mention is found
    assert services.watch_run(watch=watch) == 0
    _said("Toujours pas d'eau chaude à la piscine des Ormes", author="@paul")
    assert services.watch_run(watch=watch) == 1
    assert InboxItem.objects.for_collectivite(world.a).filter(kind="mention").count() == 3
    state = WatchCursor.objects.for_collectivite(world.a).get(watch=watch)
    assert state.cursors["piscine des Ormes"] and not state.last_error


def test_a_mention_found_by_two_watches_is_stored_once(world: Any, account: Any) -> None:
    _said("Travaux rue Victor Hugo près de la piscine des Ormes")
    first = _watch(world)
    second = _watch(world, name="Voirie", terms=["rue Victor Hugo"])
    services.watch_run(watch=first)
    services.watch_run(watch=second)
    assert InboxItem.objects.for_collectivite(world.a).count() == 1
    assert WatchHit.objects.for_collectivite(world.a).count() == 2


def test_a_simulated_comment_dated_later_is_not_skipped(world: Any, account: Any) -> None:
    _said("piscine des Ormes : bravo", minutes_ago=1)
    late = _said("piscine des Ormes : horaires ?", minutes_ago=-30)  # visible in 30 minutes
    watch = _watch(world)
    assert services.watch_run(watch=watch) == 1
    SandboxItem.objects.filter(pk=late.pk).update(created_at=timezone.now())
    assert services.watch_run(watch=watch) == 1


def test_the_mentions_of_a_watch_do_not_go_through_the_charter(world: Any, account: Any) -> None:
    factories.ModerationCharterFactory(collectivite=world.a, hide_insults=True)
    _said("La piscine des Ormes, une bande d'abrutis la gère")
    services.watch_run(watch=_watch(world))
    item = InboxItem.objects.for_collectivite(world.a).get()
    assert item.status == InboxItem.Status.NOUVEAU  # not ours to hide elsewhere
    assert not SandboxItem.objects.get(external_id=item.external_id).hidden


def test_watch_due_claims_each_active_watch_once(
    world: Any, account: Any, django_capture_on_commit_callbacks: Any
) -> None:
    watch = _watch(world)
    _watch(world, name="En pause", active=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.watch_due() == [(world.a.pk, watch.pk)]
    assert services.watch_due() == []
    watch.refresh_from_db()
    assert watch.last_run_at is not None  # the task ran (eagerly, in tests)


# --- searching: a real adapter's faked payloads -------------------------------------------------


def test_watch_through_mastodon_search(world: Any) -> None:
    account = factories.SocialAccountFactory(
        collectivite=world.a,
        network="mastodon",
        handle="@villedemo@mastodon.example",
        external_id="110000000000000001",
        credentials={"access_token": "user-token-Zx81-very-secret"},
        connection_settings={
            "instance_url": "https://mastodon.example",
            "domain": "mastodon.example",
        },
    )
    page = json.loads((MASTODON / "search_page_1.json").read_text(encoding="utf-8"))
    with responses.RequestsMock() as http:
        http.get("https://mastodon.example/api/v2/search", json=page)
        watch = _watch(world, name="Noël", terms=["marché de Noël"], networks=["mastodon"])
        assert services.watch_run(watch=watch) == 1  # our own status is left out
        assert services.watch_run(watch=watch) == 0  # from the top again: nothing twice
        assert len(http.calls) == 2
    (item,) = selectors.watch_mentions(watch=watch)
    assert item.external_id == "113500000000000013" and item.account == account
    assert item.kind == InboxItem.Kind.MENTION and item.citizen.handle == "@sacha@autre.example"


def test_a_network_without_search_is_reported_not_fatal(world: Any, account: Any) -> None:
    factories.SocialAccountFactory(collectivite=world.a, network="linkedin")
    _said("piscine des Ormes fermée")
    watch = _watch(world)
    assert services.watch_run(watch=watch) == 1
    watch.refresh_from_db()
    assert "LinkedIn" in watch.last_error


# --- spikes raise one alert ----------------------------------------------------------------------


def _hits(watch: Watch, account: Any, hour: dt.datetime, n: int) -> None:
    citizen = factories_citizen(watch.collectivite)
    for k in range(n):
        item = InboxItem.objects.create(
            collectivite=watch.collectivite,
            account=account,
            network=account.network,
            kind="mention",
            external_id=f"{hour.isoformat()}-{k}",
            citizen=citizen,
            text="piscine",
            created_at=hour + dt.timedelta(minutes=k % 60),
        )
        WatchHit.objects.create(
            collectivite=watch.collectivite, watch=watch, item=item, created_at=item.created_at
        )


def factories_citizen(collectivite: Any) -> Any:
    from monitoring.models import Citizen

    return Citizen.objects.for_collectivite(collectivite).get_or_create(
        collectivite=collectivite, network="sandbox", external_id="c1"
    )[0]


def test_a_spike_alerts_once_in_the_app_and_by_email(
    world: Any, account: Any, django_capture_on_commit_callbacks: Any
) -> None:
    now = dt.datetime(2026, 5, 20, 14, 30, tzinfo=dt.UTC)
    watch = _watch(world, recipients=[world.members[Role.ADMIN]], spike_minimum=10)
    Watch.objects.for_collectivite(world.a).filter(pk=watch.pk).update(
        created_at=now - dt.timedelta(days=30)
    )
    watch.refresh_from_db()
    hour = now.replace(minute=0)
    for day in range(1, 29):
        _hits(watch, account, hour - dt.timedelta(days=day), 3)
    _hits(watch, account, hour, 4)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.watch_check_spikes(watch=watch, now=now) is None  # 4: usual enough
    _hits(watch, account, hour + dt.timedelta(seconds=1), 20)
    with django_capture_on_commit_callbacks(execute=True):
        alert = services.watch_check_spikes(watch=watch, now=now)
    assert alert is not None and alert.peak_count == 24 and alert.median == 3
    notes = Notification.objects.for_collectivite(world.a)
    assert [n.user for n in notes] == [world.members[Role.ADMIN]]
    assert "Piscine" in notes[0].message and "24" in notes[0].message
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [world.members[Role.ADMIN].email]
    # every later tick of the same spike, and the hour after, extend it: no new alert
    with django_capture_on_commit_callbacks(execute=True):
        assert services.watch_check_spikes(watch=watch, now=now + dt.timedelta(minutes=5)) is None
        _hits(watch, account, hour + dt.timedelta(hours=1), 30)
        assert services.watch_check_spikes(watch=watch, now=now + dt.timedelta(hours=1)) is None
    alert = WatchAlert.objects.for_collectivite(world.a).get()
    assert alert.peak_count == 30 and alert.last_hour == hour + dt.timedelta(hours=1)
    assert len(mail.outbox) == 1 and notes.count() == 1


def test_without_recipients_those_who_manage_the_watch_are_told(world: Any, account: Any) -> None:
    now = timezone.now()
    watch = _watch(world, spike_minimum=5)
    _hits(watch, account, now.replace(minute=0, second=0, microsecond=0), 8)
    services._notify_alert(watch, services.watch_check_spikes(watch=watch, now=now))
    told = {n.user for n in Notification.objects.for_collectivite(world.a)}
    assert told == {world.members[Role.ADMIN], world.members[Role.MODERATEUR]}


# --- pages and API --------------------------------------------------------------------------------


def test_watch_pages(world: Any, account: Any) -> None:
    moderator = world.client(world.members[Role.MODERATEUR])
    base = f"/c/{world.a.slug}/boite/veille/"
    response = moderator.post(
        base + "nouvelle/",
        {
            "name": "Élus",
            "terms": "Marie Durand\nconseil municipal",
            "excluded_terms": "",
            "active": "on",
            "spike_minimum": "10",
            "spike_k": "4",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    watch = Watch.objects.for_collectivite(world.a).get()
    assert watch.terms == ["Marie Durand", "conseil municipal"]
    # a watch without terms is refused with a French message, what was typed stays
    again = moderator.post(
        base + "nouvelle/", {"name": "Vide", "terms": "  ", "spike_minimum": "10", "spike_k": "4"}
    )
    assert again.status_code == 200 and "Vide" in again.content.decode()
    _said("Marie Durand a répondu au conseil municipal")
    services.watch_run(watch=watch)
    page = moderator.get(f"{base}{watch.pk}/").content.decode()
    assert 'id="watch-series"' in page and "a répondu au conseil" in page
    assert "<script>" not in page and "js/watch.js" in page
    assert "Marie Durand" in moderator.get(base).content.decode()
    lecteur = world.client(world.members[Role.LECTEUR])
    assert lecteur.get(base).status_code == 403
    assert world.client(world.outsider).get(f"{base}{watch.pk}/").status_code == 404
    assert moderator.post(f"{base}{watch.pk}/supprimer/").status_code == 302
    assert not Watch.objects.for_collectivite(world.a).exists()
    assert InboxItem.objects.for_collectivite(world.a).count() == 1  # mentions stay


def test_watch_api(world: Any, account: Any) -> None:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world.members[Role.MODERATEUR])
    base = f"/api/v1/c/{world.a.slug}/"
    created = api.post(
        base + "watches/",
        {"name": "Piscine", "terms": ["piscine"], "networks": ["sandbox"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    bad = api.post(
        base + "watches/",
        {"name": "X", "terms": ["a"], "recipients": [world.outsider.pk]},
        format="json",
    )
    assert bad.status_code == 400
    assert api.get(base + "watches/").json()["results"][0]["terms"] == ["piscine"]
    assert api.get(base + "watch-alerts/").status_code == 200
    redacteur = APIClient()
    redacteur.force_authenticate(world.members[Role.REDACTEUR])
    assert redacteur.get(base + "watches/").status_code == 403
