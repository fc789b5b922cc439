"""The moderation inbox at scale: collection into PostgreSQL, then the inbox's pages.

The issue calls it ``bench/inbox.py``; it is named ``bench_*.py`` so that ``bench/run.py``
(``make bench``) picks it up. Needs PostgreSQL; says so and returns otherwise. Runs in a
database of its own, ``parvis_bench_inbox`` (dropped and created at each run).

1. Ingest. ``BENCH_INGEST_ITEMS`` (200,000) comments across ``BENCH_INGEST_ACCOUNTS`` (500)
   accounts of 50 collectivités go through the real collection path,
   ``monitoring.services.collect_account`` (the network's pages fetched with the stored
   cursor; for each page, known ids looked up, authors upserted, French triage of every
   text, due date from the charter, bulk insert ignoring duplicates, the cursor stored, one
   transaction each), one run per account, from a network that answers at once: pages of
   100 built in memory before the clock starts. The charter and urgent-notification tasks
   it queues after commit are counted, not run (they talk to networks and mail). Baseline,
   same run: the rows it stored, read back, then written with a bare ``COPY`` into an empty
   table with the same columns, indexes and constraints, foreign keys included
   (``CREATE TABLE … (LIKE … INCLUDING ALL)`` plus the inbox's foreign keys). Prints both
   rates and the ratio (target: the path at least a third of COPY's rate).
2. Pages. ``BENCH_ITEMS`` (1,000,000) items across ``BENCH_COLLECTIVITES`` (1,000)
   collectivités, written with COPY; one collectivité, the largest, holds
   ``BENCH_BIG_SHARE`` percent of them (10: 100,000 items), the others share the rest.
   Through Django's test client (middleware, tenancy, view, template), as a moderator:
   the inbox's first page, a filtered page (label « question » on one account), the same
   with a label of low priority (« positif », whose items come last in the inbox's order)
   and a French full-text search, in the largest collectivité and in a typical one,
   ``BENCH_REPEAT`` (30) requests each after one warm-up; p50 and p95 in ms. Baseline:
   the collectivité's overview page ``/c/<slug>/`` through the same client in the same
   run. Targets: p95 under 50 ms for the first page, 150 ms for the search.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "parvis_bench_inbox")
HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "monitoring" / "data" / "labelled_comments.jsonl"
PAGE = 100  # entries per collection page
TARGET_FIRST_MS = 50.0
TARGET_SEARCH_MS = 150.0
NETWORKS = ["facebook", "instagram", "mastodon", "bluesky", "x", "linkedin"]
SEARCHES = ["piscine", "travaux rue", "déchetterie", "stationnement", "poubelles"]


def _settings(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _reporting_helpers() -> Any:
    """The database helpers of bench_reporting (create, switch to, COPY into a model)."""
    module = sys.modules.get("bench_reporting")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "bench_reporting", HERE / "bench_reporting.py"
        )
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules["bench_reporting"] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _texts() -> list[str]:
    with DATA.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def _collectivites(n: int, prefix: str) -> list[Any]:
    from collectivites.models import Collectivite, ModerationCharter

    colls = Collectivite.objects.bulk_create(
        [Collectivite(name=f"Bench {prefix} {i:04d}", slug=f"{prefix}-{i:04d}") for i in range(n)]
    )
    ModerationCharter.objects.bulk_create(
        [ModerationCharter(collectivite=c, response_target_hours=24) for c in colls]
    )
    return colls


def _accounts(colls: list[Any], per: int) -> list[Any]:
    from collectivites.models import SocialAccount

    return SocialAccount.objects.bulk_create(
        [
            SocialAccount(
                collectivite=c,
                network=NETWORKS[k % len(NETWORKS)],
                handle=f"@{c.slug}-{k}",
                external_id=f"{c.slug}-{k}",
                display_name=f"{c.name} {k}",
                status=SocialAccount.Status.CONNECTED,
            )
            for c in colls
            for k in range(per)
        ]
    )


# --- 1. ingestion -------------------------------------------------------------------------------


def _entries(account: Any, count: int, texts: list[str], rng: random.Random) -> Iterator[Any]:
    from networks.base import Author, InboxEntry, ItemKind

    # written over the last hours, about one a minute, as a collection finds them (a
    # message stored days after it was written also tells reporting's rollup: rare)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=count + 5)
    for k in range(count):
        who = rng.randrange(2000)
        yield InboxEntry(
            kind=ItemKind.COMMENT,
            external_id=f"{account.external_id}-{k}",
            author=Author(external_id=f"u{who}", handle=f"@habitant{who}", display_name=f"H {who}"),
            text=f"{rng.choice(texts)} ({k % 97})",
            created_at=start + dt.timedelta(minutes=k, seconds=rng.randrange(60)),
            post_external_id=f"{account.external_id}-post-{k // 50}",
            raw={"id": f"{account.external_id}-{k}"},
        )


def _ingest(items_n: int, accounts_n: int, texts: list[str]) -> tuple[float, int]:
    from unittest import mock

    from monitoring import services
    from networks.base import Page

    colls = _collectivites(50, "ingest")
    per = max(1, accounts_n // len(colls))
    accounts = _accounts(colls, per)[:accounts_n]
    for a in accounts:
        a.collectivite = next(c for c in colls if c.pk == a.collectivite_id)
    rng = random.Random(5)  # noqa: S311 -- bench data
    each = items_n // len(accounts)
    queued = {"charter": 0, "urgent": 0}
    # each account's pages by the cursor that asks for them, built before the clock starts
    pages: dict[tuple[int, str | None], Any] = {}
    for a in accounts:
        entries = list(_entries(a, each, texts, rng))
        count = -(-len(entries) // PAGE)
        for k in range(count):
            pages[(a.pk, str(k) if k else None)] = Page(
                items=entries[k * PAGE : (k + 1) * PAGE],
                next_cursor=str(k + 1),
                has_more=k + 1 < count,
            )

    class Network:
        """A network that answers at once, from memory."""

        def __init__(self, account: Any) -> None:
            self.account = account

        def fetch_inbox(self, ref: Any, cursor: str | None) -> Any:
            return pages[(self.account.pk, cursor)]

        def gone(self, ref: Any, external_ids: list[str]) -> set[str]:
            return set()  # X, Mastodon and Bluesky accounts are asked once a run

    with (
        mock.patch(
            "monitoring.services.call_network",
            side_effect=lambda account, operation: operation(Network(account), None),
        ),
        mock.patch(
            "monitoring.tasks.apply_charter_task.delay",
            side_effect=lambda *a: queued.__setitem__("charter", queued["charter"] + 1),
        ),
        mock.patch(
            "monitoring.tasks.notify_urgent_task.delay",
            side_effect=lambda *a: queued.__setitem__("urgent", queued["urgent"] + 1),
        ),
    ):
        t0, cpu0 = time.perf_counter(), time.process_time()
        stored = 0
        for account in accounts:
            stored += services.collect_account(account=account)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"collection path: {stored} items in {elapsed:.1f} s, of which this process's own CPU "
        f"{cpu / max(stored, 1) * 1e6:.0f} µs an item "
        f"({len(accounts)} accounts, pages of {PAGE}; after commit {queued['charter']} charter "
        f"and {queued['urgent']} urgent-notification tasks queued)",
        flush=True,
    )
    return elapsed, stored


def _copy_baseline() -> tuple[float, int]:
    """The stored rows, read back, then COPY'd into a twin table: the same columns,
    indexes, checks and foreign keys (``LIKE … INCLUDING ALL`` copies all but the foreign
    keys, added here as the inbox declares them, deferred to the commit as there), so that
    the COPY writes what the collection path must: rows that reference their collectivité,
    account, author and post."""
    import io

    from django.db import connection

    with connection.cursor() as cursor:
        raw = cursor.connection
        cursor.execute("DROP TABLE IF EXISTS bench_inbox_copy")
        cursor.execute("CREATE TABLE bench_inbox_copy (LIKE monitoring_inboxitem INCLUDING ALL)")
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'monitoring_inboxitem'::regclass AND contype = 'f'"
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE bench_inbox_copy ADD CONSTRAINT "{name}_c" {definition}')
        buffer = io.BytesIO()
        with raw.cursor() as cur, cur.copy("COPY monitoring_inboxitem TO STDOUT") as copy:
            for block in copy:
                buffer.write(block)
        data = buffer.getvalue()
        t0 = time.perf_counter()
        with raw.cursor() as cur:
            with cur.copy("COPY bench_inbox_copy FROM STDIN") as copy:
                for start in range(0, len(data), 1 << 20):
                    copy.write(data[start : start + (1 << 20)])
            raw.commit()
        elapsed = time.perf_counter() - t0
        cursor.execute("SELECT count(*) FROM bench_inbox_copy")
        count = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_inbox_copy")
    print(f"bare COPY: {count} rows in {elapsed:.1f} s", flush=True)
    return elapsed, count


# --- 2. pages -----------------------------------------------------------------------------------


def _generate_pages(items_n: int, colls_n: int, big_share: int, texts: list[str]) -> Any:
    from django.contrib.auth import get_user_model

    from collectivites.models import Membership
    from collectivites.permissions import Role
    from monitoring.models import Citizen, InboxItem
    from monitoring.triage import triage

    t0 = time.perf_counter()
    rng = random.Random(20261124)  # noqa: S311 -- bench data
    helpers = _reporting_helpers()
    colls = _collectivites(colls_n, "c")
    accounts = _accounts(colls, 2)
    by_coll: dict[int, list[Any]] = {}
    for a in accounts:
        by_coll.setdefault(a.collectivite_id, []).append(a)
    user = get_user_model().objects.create_user(
        username="moderateur@bench.example", email="moderateur@bench.example"
    )
    Membership.objects.bulk_create(
        [Membership(collectivite=c, user=user, role=Role.MODERATEUR) for c in (colls[0], colls[1])]
    )
    citizens_per = 200
    helpers._copy(
        Citizen,
        (
            {
                "collectivite_id": c.pk,
                "network": "facebook",
                "external_id": f"{c.pk}-{k}",
                "handle": f"@habitant{k}",
                "display_name": f"Habitant {k}",
            }
            for c in colls
            for k in range(citizens_per)
        ),
    )
    first_citizen = dict(
        Citizen.objects.dangerously_unscoped()
        .filter(external_id__endswith="-0")
        .values_list("collectivite_id", "pk")
    )
    triaged = {t: triage(t) for t in texts}
    big = items_n * big_share // 100
    rest = items_n - big
    counts = [big] + [rest // (colls_n - 1)] * (colls_n - 1)
    counts[-1] += items_n - sum(counts)
    now = dt.datetime.now(dt.UTC)
    statuses = ["nouveau"] * 4 + ["assigne", "en_attente", "repondu", "repondu", "clos", "masque"]

    def rows() -> Iterator[dict[str, Any]]:
        n = 0
        for coll, count in zip(colls, counts, strict=True):
            accs = by_coll[coll.pk]
            for k in range(count):
                text = rng.choice(texts)
                result = triaged[text]
                created = now - dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
                status = rng.choice(statuses)
                answered = status in ("repondu", "clos")
                yield {
                    "collectivite_id": coll.pk,
                    "account_id": accs[k % 2].pk,
                    "network": accs[k % 2].network,
                    "kind": "comment",
                    "external_id": f"i{n}",
                    "citizen_id": first_citizen[coll.pk] + rng.randrange(citizens_per),
                    "text": text,
                    "created_at": created,
                    "labels": [
                        {"code": label.code, "score": label.score, "reasons": list(label.reasons)}
                        for label in result.labels
                    ],
                    "place": result.place or "",
                    "priority": result.priority,
                    "needs_answer": result.needs_answer,
                    "status": status,
                    "due_at": created + dt.timedelta(days=1) if result.needs_answer else None,
                    "first_response_at": created + dt.timedelta(hours=3) if answered else None,
                    "raw": {},
                }
                n += 1

    helpers._copy(InboxItem, rows())
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"pages data: {items_n} items in {colls_n} collectivités "
        f"({big} in the largest) written with COPY in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return user, colls[0], colls[1], by_coll


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
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client
    from django.test.utils import override_settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("skipped: needs PostgreSQL (DATABASE_URL)", flush=True)
        return
    ingest_n = _settings("BENCH_INGEST_ITEMS", 200_000)
    ingest_accounts = _settings("BENCH_INGEST_ACCOUNTS", 500)
    items_n = _settings("BENCH_ITEMS", 1_000_000)
    colls_n = _settings("BENCH_COLLECTIVITES", 1_000)
    big_share = _settings("BENCH_BIG_SHARE", 10)
    repeat = _settings("BENCH_REPEAT", 30)
    helpers = _reporting_helpers()
    texts = _texts()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    connections.close_all()
    helpers._ensure_database(BENCH_DATABASE, recreate=True)
    with helpers._using_database(BENCH_DATABASE), contextlib.ExitStack() as stack:
        call_command("migrate", verbosity=0)
        path_s, stored = _ingest(ingest_n, ingest_accounts, texts)
        copy_s, copied = _copy_baseline()
        path_rate, copy_rate = stored / path_s, copied / copy_s
        print(
            f"ingest: collection path {path_rate:,.0f} items/s, bare COPY {copy_rate:,.0f} rows/s,"
            f" ratio {path_rate / copy_rate:.3f} (target ≥ 0.333: "
            f"{'met' if path_rate / copy_rate >= 1 / 3 else 'MISSED'})",
            flush=True,
        )
        from monitoring.models import Citizen, InboxItem

        with connections["default"].cursor() as cursor:
            cursor.execute(f"TRUNCATE {InboxItem._meta.db_table}, {Citizen._meta.db_table} CASCADE")
        user, big, typical, by_coll = _generate_pages(items_n, colls_n, big_share, texts)
        storages = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        stack.enter_context(override_settings(STORAGES=storages))
        client = Client()
        client.force_login(user)
        print(f"{repeat} requests each (after one warm-up)", flush=True)
        for label, coll in (("largest collectivité", big), ("typical collectivité", typical)):
            base = f"/c/{coll.slug}/"
            baseline = _times(lambda base=base: client.get(base), repeat)
            account = by_coll[coll.pk][0].pk
            searches = iter(SEARCHES * repeat)
            measures = (
                ("first page", f"{base}boite/", TARGET_FIRST_MS),
                (
                    "filtered page",
                    f"{base}boite/?etiquette=question&compte={account}",
                    TARGET_FIRST_MS,
                ),
                # a label of low priority: in INBOX_ORDER its items come after all the
                # urgent, insulting, questioning and complaining ones
                (
                    "filtered low",
                    f"{base}boite/?etiquette=positif&compte={account}",
                    TARGET_FIRST_MS,
                ),
                ("search", None, TARGET_SEARCH_MS),
            )
            for page, url, target in measures:
                if url is None:
                    samples = _times(
                        lambda base=base, searches=searches: client.get(
                            f"{base}boite/", {"q": next(searches), "etat": "tous"}
                        ),
                        repeat,
                    )
                else:
                    samples = _times(lambda url=url: client.get(url), repeat)
                p95 = _p(samples, 0.95) * 1000
                print(
                    f"{label:22} {page:14} p50 {statistics.median(samples) * 1e3:7.1f} ms  "
                    f"p95 {p95:7.1f} ms  target {target:4.0f} ms "
                    f"{'met' if p95 < target else 'MISSED'}  ratio to overview p50 "
                    f"{statistics.median(samples) / statistics.median(baseline):5.1f}  "
                    f"(overview p50 {statistics.median(baseline) * 1e3:.1f} ms)",
                    flush=True,
                )


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    main()
