"""What the reporting pages cost with two years of data: the élu dashboard, the team's
detailed dashboard (for one commune and for an intercommunalité of 30 communes) and the
monthly PDF.

The issue calls it ``bench/reporting.py``; it is named ``bench_*.py`` so that
``bench/run.py`` (``make bench``) picks it up.

Data (generated once with PostgreSQL ``COPY`` into a database of its own,
``parvis_bench_reporting``, created and migrated if missing; kept between runs when it is
complete, ``BENCH_REBUILD=1`` regenerates it): 40 collectivités — an intercommunalité,
its 30 communes and 9 others — with 25 accounts each (1,000 accounts over six networks);
730 days of account metrics per account (730,000 rows); 100,000 published posts spread
over the two years, each with ``BENCH_SNAPSHOTS`` (default 10) metric snapshots in its
first 30 days (1,000,000 rows); 1,000,000 inbox items (40 % needing an answer, most
answered within a few business hours). Knobs: ``BENCH_ACCOUNTS``, ``BENCH_POSTS``,
``BENCH_INBOX``, ``BENCH_REPEAT`` (requests per page, default 20).

Subject: GET through Django's test client (middleware, tenancy, view, template) of
``/c/<slug>/rapports/`` (as a lecteur), ``/c/<slug>/rapports/detail/`` and
``/c/<slug>/rapports/rapport.pdf`` (as an admin); p50 and p95. Three runs: last complete
month and the current month with the KPI cache off (cold: every request computes), then
last complete month with it on (what an élu usually gets).
Baseline: the collectivité's overview page ``/c/<slug>/`` through the same client in the
same run; the ratio is subject p50 ÷ baseline p50. Targets: dashboards p95 < 300 ms,
PDF < 5 s. Needs PostgreSQL; says so and returns otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "parvis_bench_reporting")
COMMUNES = 30
OTHERS = 9
NETWORKS = ["facebook", "instagram", "linkedin", "mastodon", "bluesky", "x"]
DAYS = 730
TARGET_P95_MS = 300.0
TARGET_PDF_S = 5.0
LABELS = ["question", "reclamation", "positif", "negatif", "spam", "hors_sujet"]


def _settings(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@contextlib.contextmanager
def _using_database(name: str) -> Iterator[None]:
    from django.db import connections

    conn = connections["default"]
    previous = conn.settings_dict["NAME"]
    conn.close()
    conn.settings_dict["NAME"] = name
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["NAME"] = previous


def _ensure_database(name: str, *, recreate: bool = False) -> None:
    """Create the bench database if missing; ``recreate`` drops it first (a flush cannot
    empty it: the audit trail refuses TRUNCATE)."""
    import psycopg
    from django.conf import settings
    from psycopg import sql

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if recreate:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- data -------------------------------------------------------------------------------------


def _copy(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """COPY ``rows`` (attname -> value) into ``model``'s table; missing fields take their
    Django default (``auto_now`` fields: now)."""
    from django.db import connection
    from django.db.models import JSONField
    from django.utils import timezone

    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.connection
        with (
            raw.cursor() as cur,
            cur.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy,
        ):
            for row in rows:
                values = []
                for f in fields:
                    if f.attname in row:
                        v = row[f.attname]
                    elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                        v = now
                    else:
                        v = f.get_default()
                    if isinstance(f, JSONField):
                        v = json.dumps(v)
                    values.append(v)
                copy.write_row(values)
                n += 1
    return n


def _complete(accounts: int, posts: int, inbox: int) -> bool:
    from collectivites.models import Collectivite, SocialAccount
    from monitoring.models import InboxItem
    from publishing.models import Variant

    if not Collectivite.objects.filter(slug="bench-interco").exists():
        return False
    return (
        SocialAccount.objects.dangerously_unscoped().count() == accounts
        and Variant.objects.dangerously_unscoped().count() == posts
        and InboxItem.objects.dangerously_unscoped().count() == inbox
    )


def _generate(accounts_n: int, posts_n: int, inbox_n: int, snapshots: int, today: dt.date) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from collectivites.models import Collectivite, Membership, SocialAccount
    from monitoring.models import Citizen, InboxItem
    from publishing.models import Publication, Variant
    from reporting.models import AccountMetricDay, PostMetricDay

    started = time.perf_counter()
    rng = random.Random(20261123)  # noqa: S311 -- bench data
    tz = dt.UTC
    with transaction.atomic():
        interco = Collectivite.objects.create(
            name="Bench Interco", slug="bench-interco", kind="intercommunalite", population=90000
        )
        colls = [interco]
        for i in range(COMMUNES):
            colls.append(
                Collectivite.objects.create(
                    name=f"Bench Commune {i:02d}",
                    slug=f"bench-commune-{i:02d}",
                    parent=interco,
                    population=rng.randint(800, 12000),
                )
            )
        for i in range(OTHERS):
            colls.append(
                Collectivite.objects.create(
                    name=f"Bench Autre {i}", slug=f"bench-autre-{i}", population=20000
                )
            )
        User = get_user_model()
        elu = User.objects.create_user(username="elu@bench.example", email="elu@bench.example")
        agent = User.objects.create_user(
            username="agent@bench.example", email="agent@bench.example"
        )
        for c in (interco, colls[1]):
            Membership.objects.create(collectivite=c, user=elu, role="lecteur")
            Membership.objects.create(collectivite=c, user=agent, role="admin")
        per = accounts_n // len(colls)
        SocialAccount.objects.bulk_create(
            SocialAccount(
                collectivite=c,
                network=NETWORKS[(ci * per + a) % len(NETWORKS)],
                handle=f"@bench{ci}.{a}",
                display_name=f"{c.name} compte {a}",
                external_id=f"bench-{ci}-{a}",
                status=SocialAccount.Status.CONNECTED,
            )
            for ci, c in enumerate(colls)
            for a in range(per)
        )
    accounts = list(
        SocialAccount.objects.dangerously_unscoped()
        .order_by("pk")
        .values_list("pk", "collectivite_id", "network")
    )
    first_day = today - dt.timedelta(days=DAYS)

    def account_days() -> Iterator[dict[str, Any]]:
        for pk, cid, network in accounts:
            followers = rng.randint(200, 20000)
            gives_reach = network not in ("mastodon", "bluesky")
            for d in range(DAYS):
                followers += rng.randint(-3, 12)
                reach = rng.randint(50, 5000) if gives_reach else None
                yield {
                    "collectivite_id": cid,
                    "account_id": pk,
                    "day": first_day + dt.timedelta(days=d),
                    "followers": followers,
                    "impressions": reach * 2 if reach else None,
                    "reach": reach,
                    "profile_visits": rng.randint(0, 200) if gives_reach else None,
                    "link_clicks": rng.randint(0, 80) if gives_reach else None,
                }

    n_days = _copy(AccountMetricDay, account_days())
    author_id = agent.pk
    start = dt.datetime.combine(first_day, dt.time(8), tz)
    span = DAYS * 86400 - 86400

    def publications() -> Iterator[dict[str, Any]]:
        for i in range(posts_n):
            _pk, cid, _n = accounts[i % len(accounts)]
            yield {
                "collectivite_id": cid,
                "title": f"Publication {i}",
                "author_id": author_id,
                "urgent": i % 97 == 0,
            }

    _copy(Publication, publications())
    pubs = list(
        Publication.objects.dangerously_unscoped().order_by("pk").values_list("pk", flat=True)
    )
    published: list[dt.datetime] = []

    def variants() -> Iterator[dict[str, Any]]:
        for i, pub in enumerate(pubs):
            pk, cid, _n = accounts[i % len(accounts)]
            at = start + dt.timedelta(seconds=rng.randint(0, span))
            published.append(at)
            yield {
                "collectivite_id": cid,
                "publication_id": pub,
                "account_id": pk,
                "text": "Texte de la publication",
                "scheduled_at": at,
                "state": "published",
                "external_id": f"post-{i}",
                "published_at": at,
                "first_attempt_at": at,
                "attempts": 1,
                "idempotency_key": uuid.uuid4(),
            }

    _copy(Variant, variants())
    variant_rows = list(
        Variant.objects.dangerously_unscoped()
        .order_by("pk")
        .values_list("pk", "collectivite_id", "account__network")
    )
    offsets = sorted({1, 2, 3, 4, 5, 6, 7, 14, 21, 30}, key=int)[:snapshots]

    def snapshots_rows() -> Iterator[dict[str, Any]]:
        for (pk, cid, network), at in zip(variant_rows, published, strict=True):
            base = rng.randint(100, 8000)
            views = network not in ("mastodon", "bluesky")
            for k, off in enumerate(offsets, start=1):
                day = at.date() + dt.timedelta(days=off)
                if day >= today:
                    break
                grow = k / len(offsets)
                yield {
                    "collectivite_id": cid,
                    "variant_id": pk,
                    "day": day,
                    "impressions": int(base * grow * 1.6) if views else None,
                    "reach": int(base * grow) if views else None,
                    "reactions": int(base * grow * 0.03),
                    "comments": int(base * grow * 0.005),
                    "shares": int(base * grow * 0.004),
                    "saves": None,
                    "link_clicks": int(base * grow * 0.01) if views else None,
                    "video_views": None,
                }

    n_snaps = _copy(PostMetricDay, snapshots_rows())

    citizens_per = 250
    Citizen.objects.bulk_create(
        Citizen(collectivite_id=c.pk, network="facebook", external_id=f"cit-{c.pk}-{k}")
        for c in colls
        for k in range(citizens_per)
    )
    citizens: dict[int, list[int]] = {}
    for pk, cid in Citizen.objects.dangerously_unscoped().values_list("pk", "collectivite_id"):
        citizens.setdefault(cid, []).append(pk)

    def items() -> Iterator[dict[str, Any]]:
        for i in range(inbox_n):
            pk, cid, network = accounts[i % len(accounts)]
            created = start + dt.timedelta(seconds=rng.randint(0, span))
            label = LABELS[i % len(LABELS)]
            needs = label in ("question", "reclamation")
            answered = (
                created + dt.timedelta(minutes=rng.randint(10, 60 * 30))
                if needs and rng.random() < 0.85
                else None
            )
            yield {
                "collectivite_id": cid,
                "account_id": pk,
                "network": network,
                "kind": "mention" if i % 20 == 0 else "comment",
                "external_id": f"item-{i}",
                "citizen_id": citizens[cid][i % citizens_per],
                "text": "Bonjour, une question sur la mairie.",
                "created_at": created,
                "received_at": created,
                "labels": [{"code": label, "score": 0.8, "reasons": []}],
                "needs_answer": needs,
                "status": "clos" if answered and i % 3 == 0 else "nouveau",
                "first_response_at": answered,
                "priority": 2 if needs else 0,
            }

    n_items = _copy(InboxItem, items())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"generated in {time.perf_counter() - started:.0f} s: {len(accounts)} accounts, "
        f"{n_days} account-days, {len(pubs)} posts, {n_snaps} post snapshots, "
        f"{n_items} inbox items",
        flush=True,
    )


def _backfill_response_seconds() -> int:
    """Store each answered item's first-response business seconds, as monitoring does when
    the answer is sent (items generated with ``COPY`` have none); only the missing ones, so
    a database generated before the column existed is completed once."""
    from django.db import connection

    from monitoring.models import InboxItem
    from monitoring.services import response_hours

    hours: dict[int, Any] = {}
    rows = list(  # read whole before the COPY: one connection, one statement at a time
        InboxItem.objects.dangerously_unscoped()
        .filter(first_response_at__isnull=False, first_response_business_seconds__isnull=True)
        .values_list("pk", "collectivite_id", "created_at", "first_response_at")
    )
    for cid in {row[1] for row in rows}:  # before the COPY: it holds the connection
        hours[cid] = response_hours(cid)
    n = 0
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_seconds (id bigint, seconds integer)")
        with cursor.connection.cursor() as cur, cur.copy("COPY bench_seconds FROM STDIN") as copy:
            for pk, cid, created, answered in rows:
                copy.write_row((pk, hours[cid].waited(created, answered)))
                n += 1
        cursor.execute(
            "UPDATE monitoring_inboxitem i SET first_response_business_seconds = s.seconds "
            "FROM bench_seconds s WHERE i.id = s.id"
        )
        cursor.execute("DROP TABLE bench_seconds")
        cursor.execute("ANALYZE monitoring_inboxitem")
    return n


def _chronological() -> None:
    """Store the inbox items and the posts in the order they happened, as a live database
    holds them (rows are inserted as they are collected or published); the generator draws
    their times at random, which scatters one month's rows over every page of the table.
    Done once: ``CLUSTER`` on the time index, remembered by PostgreSQL."""
    from django.db import connection

    for table, column in (
        ("monitoring_inboxitem", "created_at"),
        ("publishing_variant", "published_at"),
    ):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.relname, x.indisclustered FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
                "WHERE t.relname = %s AND a.attname = %s AND x.indnatts = 1",
                [table, column],
            )
            found = cursor.fetchone()
            if found is None:
                cursor.execute(f'CREATE INDEX bench_{table}_time ON "{table}" ("{column}")')
                found = (f"bench_{table}_time", False)
            if not found[1]:
                started = time.perf_counter()
                cursor.execute(f'CLUSTER "{table}" USING "{found[0]}"')
                cursor.execute(f'ANALYZE "{table}"')
                print(f"{table} stored by {column} in {time.perf_counter() - started:.0f} s")


def _vacuumed() -> None:
    """Vacuum the tables whose visibility map is incomplete, as autovacuum does on a live
    database soon after a load: ``COPY`` and ``CLUSTER`` leave every page not known to be
    all-visible, so the covering indexes built for index-only scans would read the table
    anyway, which no production database does for long."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relpages > 0 "
            "AND relallvisible < relpages * 0.9 AND relnamespace = 'public'::regnamespace "
            "AND (relname LIKE 'monitoring_%%' OR relname LIKE 'publishing_%%' "
            "OR relname LIKE 'reporting_%%')"
        )
        tables = [name for (name,) in cursor.fetchall()]
        started = time.perf_counter()
        for table in tables:
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    if tables:
        print(f"vacuumed {len(tables)} tables in {time.perf_counter() - started:.0f} s", flush=True)


# --- measure ----------------------------------------------------------------------------------


def _times(get: Callable[[], Any], repeat: int) -> list[float]:
    get()  # warm: templates, connection, caches
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = get()
        samples.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.status_code
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("skipped: needs PostgreSQL (DATABASE_URL)", flush=True)
        return
    accounts_n = _settings("BENCH_ACCOUNTS", 1000)
    posts_n = _settings("BENCH_POSTS", 100_000)
    inbox_n = _settings("BENCH_INBOX", 1_000_000)
    snapshots = _settings("BENCH_SNAPSHOTS", 10)
    repeat = _settings("BENCH_REPEAT", 20)
    _ensure_database(BENCH_DATABASE)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    today = timezone.localdate()
    with _using_database(BENCH_DATABASE):
        call_command("migrate", verbosity=0)
        rebuild = bool(os.environ.get("BENCH_REBUILD")) or not _complete(
            accounts_n, posts_n, inbox_n
        )
    if rebuild:
        from django.db import connections

        connections.close_all()
        _ensure_database(BENCH_DATABASE, recreate=True)
    with _using_database(BENCH_DATABASE), contextlib.ExitStack() as stack:
        if rebuild:
            call_command("migrate", verbosity=0)
            _generate(accounts_n, posts_n, inbox_n, snapshots, today)
        else:
            print("data already there (BENCH_REBUILD=1 regenerates it)", flush=True)
        _chronological()
        filled = _backfill_response_seconds()
        if filled:
            print(f"first-response business seconds stored for {filled} items", flush=True)
        # the inbox's daily rollup, as the nightly task keeps it (only the missing days)
        from reporting.services import inbox_days_refresh_all

        started = time.perf_counter()
        written = inbox_days_refresh_all()
        if written:
            print(
                f"inbox days rolled up: {written} in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        _vacuumed()
        from reporting.forms import default_period, period_param
        from reporting.kpis import Period

        # the pages' static files as in tests: no collected manifest needed
        storages = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        stack.enter_context(override_settings(STORAGES=storages))
        param = period_param(default_period(today))
        current = period_param(Period.containing(today, "month"))
        User = get_user_model()
        elu, agent = Client(), Client()
        elu.force_login(User.objects.get(username="elu@bench.example"))
        agent.force_login(User.objects.get(username="agent@bench.example"))
        # the heap as a web worker has it: frozen once loaded (config.wsgi)
        from config.heap import freeze_startup_heap

        freeze_startup_heap()
        print(
            f"periods {param} (closed) and {current} (current); {repeat} requests each "
            "(after one warm-up); cold: the KPI cache off",
            flush=True,
        )
        rows = []
        scopes = (
            ("one commune (25 accounts)", "bench-commune-00"),
            ("interco of 30 communes (775 accounts)", "bench-interco"),
        )
        runs = (  # (what, periode, cache seconds)
            (f"{param}, cold", param, 0),
            (f"{current} (current), cold", current, 0),
            (f"{param}, cached", param, 3600),
        )
        pdf_repeat = max(3, repeat // 5)
        for label, slug in scopes:
            base = f"/c/{slug}/rapports/"
            baseline = _times(lambda slug=slug: elu.get(f"/c/{slug}/"), repeat)
            for what, periode, seconds in runs:
                settings.PARVIS_REPORTING_CACHE_SECONDS = seconds
                pages = (
                    ("élu dashboard", elu, f"{base}?periode={periode}", repeat),
                    ("detailed dashboard", agent, f"{base}detail/?periode={periode}", repeat),
                    ("monthly PDF", agent, f"{base}rapport.pdf?periode={periode}", pdf_repeat),
                )
                for page, client, url, n in pages:
                    s = _times(lambda client=client, url=url: client.get(url), n)
                    rows.append((f"{label}, {what}", page, s, baseline))
        for label, page, s, baseline in rows:
            target = TARGET_PDF_S * 1000 if page == "monthly PDF" else TARGET_P95_MS
            p95 = _p(s, 0.95) * 1000
            print(
                f"{label:58} {page:19} p50 {statistics.median(s) * 1e3:8.1f} ms  "
                f"p95 {p95:8.1f} ms  target {target:6.0f} ms "
                f"{'met' if p95 < target else 'MISSED'}  "
                f"ratio to overview p50 {statistics.median(s) / statistics.median(baseline):6.1f}"
                f"  (overview p50 {statistics.median(baseline) * 1e3:.1f} ms)",
                flush=True,
            )
