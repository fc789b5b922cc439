"""The inbox filtered in the database: French full-text search (PostgreSQL, with its GIN
index; icontains on SQLite), triage labels, tags, overdue items; the API's cursor; due
dates and first-response time in business hours; urgent items notified."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from collectivites.models import Notification
from collectivites.permissions import Role
from monitoring import selectors, services
from monitoring.models import Citizen, InboxItem, Tag
from monitoring.triage import triage
from networks.base import Author, InboxEntry, ItemKind
from networks.models import SandboxItem, SandboxPost
from tests import factories

pytestmark = pytest.mark.django_db

POSTGRES = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="PostgreSQL's French text search"
)
SQLITE = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="the SQLite fallback")


def entry(external_id: str, text: str, when: dt.datetime, who: str = "camille") -> InboxEntry:
    return InboxEntry(
        kind=ItemKind.COMMENT,
        external_id=external_id,
        author=Author(external_id=f"id-{who}", handle=f"@{who}", display_name=who.title()),
        text=text,
        created_at=when,
    )


def store(account: Any, *entries: InboxEntry) -> list[InboxItem]:
    services.store_entries(account=account, entries=entries)
    return list(
        InboxItem.objects.for_collectivite(account.collectivite_id).filter(
            external_id__in=[e.external_id for e in entries]
        )
    )


@pytest.fixture
def messages(world: Any, account: Any) -> dict[str, InboxItem]:
    now = timezone.now() - dt.timedelta(hours=2)
    texts = {
        "piscine": "La piscine municipale est-elle fermée cet été ?",
        "piscines": "Les piscines rouvrent quand ? La piscine de la gare surtout, la piscine !",
        "eclairage": "L'éclairage de la rue Victor Hugo est en panne depuis lundi.",
        "merci": "Merci pour le concert, très réussi.",
    }
    items = store(
        account,
        *[
            entry(k, text, now + dt.timedelta(minutes=i))
            for i, (k, text) in enumerate(texts.items())
        ],
    )
    other = factories.SocialAccountFactory(collectivite=world.b, network="sandbox")
    store(other, entry("ailleurs", "La piscine de B est fermée ?", now))
    return {i.external_id: i for i in items}


def codes(qs: Any) -> list[str]:
    return [i.external_id for i in qs]


@POSTGRES
def test_french_search_stems_folds_accents_ranks_and_stays_in_the_collectivite(
    world: Any, messages: dict[str, InboxItem]
) -> None:
    def found(q: str) -> list[str]:
        return codes(selectors.inbox(collectivite=world.a, status="tous", q=q))

    # plural and singular share their stem; the text that says it three times ranks first
    assert found("piscines") == ["piscines", "piscine"]
    assert found("ECLAIRAGE") == ["eclairage"] == found("éclairage")
    assert found("eclairages") == ["eclairage"]  # accents and inflection ignored together
    assert found('"rue Victor Hugo"') == ["eclairage"]
    assert found("piscine -fermée") == ["piscines"]
    assert set(found("piscine or concert")) == {"piscines", "piscine", "merci"}
    assert found("bibliothèque") == []
    assert "ailleurs" not in found("piscine")


@POSTGRES
def test_search_and_label_filters_use_their_gin_indexes(
    world: Any, messages: dict[str, InboxItem]
) -> None:
    # the expressions the selectors filter on are the indexed ones (across tenants here, so
    # the collectivité's btree index does not answer first)
    every = InboxItem.objects.dangerously_unscoped()
    searched = selectors.search(every, "piscine")
    labelled = selectors.with_label(every, "question")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # leave the planner bitmap scans
        plans = {}
        for name, qs in (("fts", searched), ("labels", labelled)):
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plans[name] = "\n".join(row[0] for row in cursor.fetchall())
    assert "inbox_item_fts" in plans["fts"], plans["fts"]
    assert "inbox_item_labels" in plans["labels"], plans["labels"]


@SQLITE
def test_sqlite_searches_every_word_ignoring_case(
    world: Any, messages: dict[str, InboxItem]
) -> None:
    def found(q: str) -> set[str]:
        return set(codes(selectors.inbox(collectivite=world.a, status="tous", q=q)))

    assert found("PISCINE") == {"piscine", "piscines"}
    assert found("piscine gare") == {"piscines"}
    assert found("bibliothèque") == set()


def test_label_filter_is_done_by_the_database(
    world: Any, messages: dict[str, InboxItem], django_assert_max_num_queries: Any
) -> None:
    assert set(messages["piscine"].label_codes) >= {"question"}
    assert "question" not in messages["merci"].label_codes
    with django_assert_max_num_queries(1):
        questions = codes(selectors.inbox(collectivite=world.a, label="question"))
    expected = [i.external_id for i in messages.values() if "question" in i.label_codes]
    assert sorted(questions) == sorted(expected) and "merci" not in questions
    positive = codes(selectors.inbox(collectivite=world.a, label="positif"))
    assert positive == ["merci"]


def test_search_box_on_the_page_and_q_in_the_api(
    world: Any, messages: dict[str, InboxItem]
) -> None:
    moderator = world.client(world.members[Role.MODERATEUR])
    page = moderator.get(f"/c/{world.a.slug}/boite/", {"q": "piscine", "etat": "tous"})
    html = page.content.decode()
    assert 'role="search"' in html and '<label for="f-q">' in html
    assert 'value="piscine"' in html
    assert "rouvrent" in html and "Victor Hugo" not in html and "concert" not in html
    assert "2 messages trouvés" in html
    api = moderator.get(f"/api/v1/c/{world.a.slug}/inbox/", {"q": "piscine", "status": "tous"})
    assert api.status_code == 200
    assert {r["external_id"] for r in api.json()["results"]} == {"piscine", "piscines"}


def test_api_cursor_walks_the_inbox_in_order_without_repeats(
    world: Any, account: Any, messages: dict[str, InboxItem]
) -> None:
    base = timezone.now() - dt.timedelta(days=1)
    store(
        account,
        *[
            entry(f"extra-{k}", f"Message numéro {k} sur la voirie", base + dt.timedelta(minutes=k))
            for k in range(9)
        ],
    )
    # ties on created_at too: the id keeps the order total
    InboxItem.objects.for_collectivite(world.a).filter(
        external_id__in=["extra-1", "extra-2"]
    ).update(created_at=base)
    expected = codes(selectors.inbox(collectivite=world.a))
    moderator = world.client(world.members[Role.MODERATEUR])
    url: str | None = f"/api/v1/c/{world.a.slug}/inbox/?page_size=4"
    seen: list[str] = []
    pages = 0
    while url:
        body = moderator.get(url).json()
        assert len(body["results"]) <= 4
        seen += [r["external_id"] for r in body["results"]]
        url = body["next"]
        pages += 1
    assert seen == expected and len(expected) == 13 and pages == 4
    bad = moderator.get(f"/api/v1/c/{world.a.slug}/inbox/?cursor=pas-un-curseur")
    assert bad.status_code == 400 and "Curseur invalide" in bad.content.decode()


def test_due_date_overdue_filter_and_first_response_in_business_hours(
    world: Any, account: Any, freezer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    factories.ModerationCharterFactory(
        collectivite=world.a,
        response_target_hours=4,
        business_hours_start=dt.time(9, 0),
        business_hours_end=dt.time(17, 0),
    )
    # Friday 2026-03-06 16:00 Paris (15:00 UTC): one business hour that day, three on Monday
    friday = dt.datetime(2026, 3, 6, 15, 0, tzinfo=dt.UTC)
    freezer.move_to(friday + dt.timedelta(minutes=5))
    question, thanks = store(
        account,
        entry("q", "Bonjour, à quelle heure ouvre la mairie samedi ?", friday),
        entry("t", "Merci pour le concert, très réussi.", friday, who="noa"),
    )
    assert question.needs_answer and not thanks.needs_answer
    assert question.due_at == dt.datetime(2026, 3, 9, 11, 0, tzinfo=dt.UTC)  # Mon 12:00 Paris
    assert thanks.due_at is None
    assert not question.overdue
    assert codes(selectors.inbox(collectivite=world.a, overdue=True)) == []
    freezer.move_to(dt.datetime(2026, 3, 9, 12, 0, tzinfo=dt.UTC))  # Monday 13:00 Paris
    assert codes(selectors.inbox(collectivite=world.a, overdue=True)) == ["q"]
    moderator = world.client(world.members[Role.MODERATEUR])
    page = moderator.get(f"/c/{world.a.slug}/boite/", {"retard": "1"}).content.decode()
    assert 'class="card inbox-item overdue"' in page and "En retard" in page
    assert "concert" not in page
    # answered on Monday 13:00 Paris: 1 h on Friday + 4 h on Monday, the weekend not counted
    post = SandboxPost.objects.create(
        account_external_id=account.external_id, author_handle=account.handle, text="Mairie"
    )
    SandboxItem.objects.create(
        external_id="q",
        account_external_id=account.external_id,
        post=post,
        kind="comment",
        author_id="id-camille",
        author_handle="@camille",
        author_name="Camille",
        text=question.text,
        created_at=friday,
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.reply_create(actor=world.members[Role.MODERATEUR], item=question, text="À 9 h.")
    question.refresh_from_db()
    assert question.first_response_business_seconds == 5 * 3600
    assert codes(selectors.inbox(collectivite=world.a, overdue=True)) == []


def test_urgent_items_are_notified_to_moderators_by_email(
    world: Any, account: Any, django_capture_on_commit_callbacks: Any
) -> None:
    text = "Un arbre est tombé sur la route, c'est dangereux, il faut venir vite !"
    assert triage(text).has("urgent")
    with django_capture_on_commit_callbacks(execute=True):
        store(
            account,
            entry("u", text, timezone.now()),
            entry("m", "Merci pour le concert, très réussi.", timezone.now(), who="noa"),
        )
    notified = Notification.objects.for_collectivite(world.a)
    assert set(notified.values_list("user_id", flat=True)) == {world.members[Role.MODERATEUR].pk}
    assert notified.count() == 1 and "arbre" in notified.get().message
    assert any(world.members[Role.MODERATEUR].email in m.to for m in mail.outbox)


def test_tags_added_removed_filtered_and_managed(
    world: Any, messages: dict[str, InboxItem]
) -> None:
    base = f"/c/{world.a.slug}/boite/"
    item = messages["eclairage"]
    moderator = world.client(world.members[Role.MODERATEUR])
    htmx = {"HTTP_HX_REQUEST": "true"}
    part = moderator.post(f"{base}{item.pk}/mots-cles/", {"name": "#Voirie "}, **htmx)
    assert part.status_code == 200 and "#Voirie" in part.content.decode()
    assert 'id="item-tags"' in part.content.decode()
    moderator.post(f"{base}{item.pk}/mots-cles/", {"name": "voirie"}, **htmx)  # same tag
    tag = Tag.objects.for_collectivite(world.a).get()
    assert list(item.tags.all()) == [tag] and tag.name == "Voirie"
    empty = moderator.post(f"{base}{item.pk}/mots-cles/", {"name": "  "}, **htmx)
    assert "Donnez un nom au mot-clé." in empty.content.decode()
    # filter by tag, on the page and in the API
    page = moderator.get(base, {"tag": tag.pk}).content.decode()
    assert "Victor Hugo" in page and "rouvrent" not in page
    api = moderator.get(f"/api/v1/c/{world.a.slug}/inbox/", {"tag": tag.pk}).json()
    assert [r["external_id"] for r in api["results"]] == ["eclairage"]
    assert api["results"][0]["tags"] == ["Voirie"]
    # remove (without htmx: back to the item)
    back = moderator.post(f"{base}{item.pk}/mots-cles/", {"remove": tag.pk})
    assert back.status_code == 302 and not item.tags.exists()
    # manage the collectivité's tags
    assert moderator.post(f"{base}mots-cles/nouveau/", {"name": "Piscine"}).status_code == 302
    assert moderator.post(f"{base}mots-cles/{tag.pk}/renommer/", {"name": "piscine"})
    assert Tag.objects.for_collectivite(world.a).get(pk=tag.pk).name == "Voirie"  # duplicate
    moderator.post(f"{base}mots-cles/{tag.pk}/renommer/", {"name": "Travaux"})
    assert Tag.objects.for_collectivite(world.a).get(pk=tag.pk).name == "Travaux"
    assert "Travaux" in moderator.get(f"{base}mots-cles/").content.decode()
    moderator.post(f"{base}mots-cles/{tag.pk}/supprimer/")
    assert list(Tag.objects.for_collectivite(world.a).values_list("name", flat=True)) == ["Piscine"]
    # who may: an admin sees the tags but neither tags messages nor manages tags
    admin = world.client(world.members[Role.ADMIN])
    assert admin.get(f"{base}mots-cles/").status_code == 200
    assert admin.post(f"{base}{item.pk}/mots-cles/", {"name": "x"}).status_code == 403
    assert admin.post(f"{base}mots-cles/nouveau/", {"name": "x"}).status_code == 403
    outsider = world.client(world.outsider)
    assert outsider.post(f"{base}{item.pk}/mots-cles/", {"name": "x"}).status_code == 404


def test_inbox_page_shows_fifty_then_the_next_ones(world: Any, account: Any) -> None:
    base = timezone.now() - dt.timedelta(days=2)
    store(
        account,
        *[
            entry(f"m{k:02d}", f"Signalement {k} : trottoir abîmé", base + dt.timedelta(minutes=k))
            for k in range(55)
        ],
    )
    moderator = world.client(world.members[Role.MODERATEUR])
    first = moderator.get(f"/c/{world.a.slug}/boite/", {"reseau": "sandbox"})
    html = first.content.decode()
    assert html.count('class="card inbox-item') == 50
    assert 'rel="next"' in html and "Messages suivants" in html
    following = first.context["next_query"]
    second = moderator.get(f"/c/{world.a.slug}/boite/?{following}").content.decode()
    assert second.count('class="card inbox-item') == 5
    assert "Première page" in second and 'rel="next"' not in second
    # a tampered cursor shows the first page rather than an error
    bad = moderator.get(f"/c/{world.a.slug}/boite/", {"apres": "xx"})
    assert bad.status_code == 200 and bad.content.decode().count('class="card inbox-item') == 50


@POSTGRES
def test_first_page_reads_the_open_items_in_order_from_the_partial_index(
    world: Any, messages: dict[str, InboxItem]
) -> None:
    # the open statuses are an IN list: only the partial index returns them already in
    # INBOX_ORDER, so the first page needs no sort of all the collectivité's open items
    qs = selectors.inbox(collectivite=world.a)[:51]
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "inbox_item_open_order" in plan, plan
    assert "Sort" not in plan, plan


@POSTGRES
def test_label_filter_reads_the_labelled_open_items_in_order_from_their_index(
    world: Any, messages: dict[str, InboxItem], account: Any
) -> None:
    # « Étiquette » (with or without an account): the label's partial index returns the
    # page in INBOX_ORDER, rather than every open item of higher priority being read and
    # dropped, or every item of the account being read and sorted
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_inboxitem")
    for account_id in (None, account.pk):
        qs = selectors.inbox(collectivite=world.a, label="question", account_id=account_id)
        sql, params = qs[:51].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "inbox_item_open_question" in plan, plan
        assert "Sort" not in plan, plan
    assert [i.external_id for i in qs] == ["piscine", "piscines"]


@POSTGRES
def test_every_label_the_inbox_filters_on_has_its_ordered_index() -> None:
    import json

    from monitoring.lexicon import LABEL_NAMES
    from monitoring.views import LABELS

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'monitoring_inboxitem'"
        )
        indexes = dict(cursor.fetchall())
    assert set(LABELS) == set(LABEL_NAMES)
    for code in LABELS:
        definition = indexes[f"inbox_item_open_{code}"]
        contains = "'" + json.dumps([{"code": code}]) + "'::jsonb"  # as Django sends it
        assert contains in definition, definition


def test_inbox_page_queries_do_not_grow_with_its_items(world: Any, account: Any) -> None:
    from django.test.utils import CaptureQueriesContext

    base = timezone.now() - dt.timedelta(days=15)
    items = store(
        account,
        *[
            entry(f"q{k:02d}", f"La piscine rouvre quand ? ({k})", base + dt.timedelta(minutes=k))
            for k in range(3)
        ],
    )
    tag = Tag.objects.create(collectivite=world.a, name="piscine")
    items[0].tags.add(tag)
    moderator = world.client(world.members[Role.MODERATEUR])
    url = f"/c/{world.a.slug}/boite/"
    moderator.get(url)  # the first visit writes the session (last seen, last collectivité)
    with CaptureQueriesContext(connection) as few:
        html = moderator.get(url).content.decode()
    assert (
        html.count('class="card inbox-item overdue"') == 3
    )  # due in a day of business hours: late
    assert "#piscine" in html and "Question" in html and "Commentaire" in html
    store(
        account,
        *[
            entry(f"r{k:02d}", f"Merci pour la fête ({k})", base + dt.timedelta(minutes=k))
            for k in range(20)
        ],
    )
    for item in InboxItem.objects.for_collectivite(world.a).filter(external_id__startswith="r"):
        item.tags.add(tag)
    with CaptureQueriesContext(connection) as many:
        html = moderator.get(url).content.decode()
    assert html.count('class="card inbox-item') == 23
    assert len(many.captured_queries) == len(few.captured_queries)
    # what a page costs once the session is settled: the session and its user; the
    # collectivité, the membership's role and its security policy (tenancy); the page of
    # items, with its citizens and accounts joined; the collectivité's tags and the
    # page's links to them (skipped when the collectivité has no tags); the collectivité
    # switcher (memberships, collectivités) and the unread notifications; the filter's
    # accounts and the members who may take a message. Nothing written: the session is
    # saved only when it changes.
    with CaptureQueriesContext(connection) as settled:
        moderator.get(url)
    statements = [q["sql"] for q in settled.captured_queries]
    assert len(statements) == 13, "\n".join(statements)
    assert not [s for s in statements if not s.startswith("SELECT")], statements


def test_store_keeps_every_value_and_stores_nothing_twice(world: Any, account: Any) -> None:
    # the PostgreSQL path writes by COPY: text and payloads with what COPY escapes survive
    when = timezone.now() - dt.timedelta(hours=1)
    odd = 'Tab\there, back\\slash, "guillemets", newline\nnext, émoji 🚒, \\N, NULL'
    first = InboxEntry(
        kind=ItemKind.REPLY,
        external_id="odd",
        author=Author(external_id="id-odd", handle="@odd", display_name="Odd"),
        text=odd,
        created_at=when,
        permalink="https://example.org/p/1",
        raw={"text": odd, "nested": [1, None, True, {"k": "\\N"}]},
    )
    again = entry("plain", "La rue est inondée, danger !", when)
    assert services.store_entries(account=account, entries=[first, again, again]) in (2, 3)
    services.store_entries(account=account, entries=[first, again])
    stored = InboxItem.objects.for_collectivite(world.a).filter(account=account)
    assert sorted(stored.values_list("external_id", flat=True)) == ["odd", "plain"]
    item = stored.get(external_id="odd")
    assert item.text == odd and item.raw == first.raw and item.kind == "reply"
    assert item.permalink == "https://example.org/p/1" and item.received_at is not None
    plain = stored.get(external_id="plain")
    assert "urgent" in plain.label_codes and plain.labels[0]["reasons"]
    assert plain.status == InboxItem.Status.NOUVEAU and plain.citizen.handle == "@camille"


def _known_nothing(account: Any, entries: list[InboxEntry]) -> Any:
    """``services._known`` as it would answer just before another worker stored the same
    page: nothing stored yet, no author known."""
    return {}, {}, {}


def test_an_item_stored_meanwhile_is_kept_once_and_the_rest_stored(
    world: Any, account: Any, monkeypatch: Any
) -> None:
    # Another worker (or a webhook) stored "b" and its author between our lookup and our
    # insert: the COPY meets the unique constraint, its savepoint is rolled back and the
    # page goes again through INSERT … ON CONFLICT DO NOTHING.
    when = timezone.now() - dt.timedelta(hours=1)
    store(account, entry("b", "Premier arrivé", when, who="dominique"))
    monkeypatch.setattr(services, "_known", _known_nothing)
    page = [
        entry("a", "La piscine ouvre quand ?", when),
        entry("b", "Texte du second worker", when, who="dominique"),
        entry("c", "Merci !", when, who="dominique"),
    ]
    services.store_entries(account=account, entries=page)
    stored = InboxItem.objects.for_collectivite(world.a).filter(account=account)
    assert sorted(stored.values_list("external_id", flat=True)) == ["a", "b", "c"]
    assert stored.get(external_id="b").text == "Premier arrivé"  # left as it was
    assert stored.get(external_id="a").label_codes == ["question"]
    authors = {i.external_id: i.citizen_id for i in stored}
    assert authors["b"] == authors["c"]  # the author created meanwhile, found again
    assert Citizen.objects.for_collectivite(world.a).filter(external_id="id-dominique").count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's commit setting")
def test_storing_commits_without_waiting_for_the_flush_of_its_own_transaction(
    account: Any,
) -> None:
    """``SET LOCAL``: the transaction that stores a page does not wait for the WAL flush
    (see ``services._insert_new`` for why nothing is lost); nothing else is changed."""

    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    before = setting()
    assert before == "on"

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        services._store(account, [entry("x", "Bonjour", timezone.now())], triage, charter=False)
        assert setting() == "off"
        raise Undo
    assert setting() == before


@pytest.mark.parametrize("language", ["fr", "en"])
def test_list_dates_read_as_the_date_filter_writes_them(language: str) -> None:
    # the list formats its dates once per page in Python; they must read exactly as
    # « {{ value|date:"j M H:i" }} » did, in the collectivité's time zone and language
    from django.template import Context, Template
    from django.utils import translation

    from monitoring.views import _short_date

    template = Template('{{ value|date:"j M H:i" }}')
    moments = [
        dt.datetime(2026, month, day, hour, 7, tzinfo=dt.UTC)
        for month in range(1, 13)
        for day, hour in ((1, 0), (28, 23))
    ] + [
        dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC),
    ]
    with translation.override(language), timezone.override("Europe/Paris"):
        short = _short_date()
        for moment in moments:
            assert short(moment) == template.render(Context({"value": moment})), moment
