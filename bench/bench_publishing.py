"""How late posts go out, and how fast, when 10,000 variants are due at the same minute.

The issue calls it ``bench/publishing.py``; it is named ``bench_*.py`` so that
``bench/run.py`` (``make bench``) picks it up.

Subject: N variants (``BENCH_VARIANTS``, default 10,000) across five collectivités and
twenty sandbox accounts, all approved and due at the same instant a few seconds ahead.
Celery beat ticks ``publishing.tasks.dispatch`` every ``BENCH_DISPATCH_INTERVAL`` seconds
(default 0.5); the dispatcher claims and queues them; the workers publish them. Lateness
of a variant is ``published_at`` minus ``scheduled_at``; throughput is N over the time
from the due instant to the last ``published_at``. The network is the sandbox with no
added latency and without its simulated citizens' comments (the bench's workers skip
``simulate_reactions`` for variants whose text carries a marker): the nearest to a
network that answers at once. Then a smaller batch (``BENCH_VARIANTS_AS_SHIPPED``,
default 2,000; 0 skips it) on the sandbox as shipped, comments included, for comparison.
A batch not out within ``BENCH_TIMEOUT`` seconds (default 240) is reported as such and
the rest cancelled.

Baseline: N bare Celery tasks (``bench.noop``, defined below: it counts itself in Redis)
sent through the same broker to the same worker processes, first send to last
completion; once before and once after the subject runs, the faster one kept.

Real processes, as in production: two workers (``prefork``, concurrency 2 each, ``-O
fair``, INFO logs) and beat, on a database of their own (``parvis_bench``, created and
migrated if missing, emptied at start) and a Redis DB of their own (DB 9, flushed).
Needs PostgreSQL and Redis; says so and returns otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import redis
from celery import shared_task
from celery.signals import worker_process_init

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

BENCH_DATABASE = "parvis_bench"
BROKER_REDIS_DB = 9
WORKERS = 2
CONCURRENCY = 2
COLLECTIVITES = 5
ACCOUNTS_EACH = 4
LEAD_SECONDS = 3.0  # between setting the due instant and the instant itself
WARM_UP = 200
TARGET_P99_SECONDS = 5.0
TARGET_RATIO = 0.5
START_TIMEOUT = 60.0
NOOP_COUNT_KEY = "bench:noop:done"
NOOP_LAST_KEY = "bench:noop:last"
# A variant whose text starts with this is posted without simulated citizens' comments.
NO_REACTIONS = "[bench sans réactions] "

T = TypeVar("T")


# --- what the workers load (celery worker --include bench.bench_publishing) ----------------


@functools.cache
def _counter() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """The bare task: nothing but counting itself and when it finished."""
    _counter().pipeline(transaction=False).incr(NOOP_COUNT_KEY).set(
        NOOP_LAST_KEY, time.time()
    ).execute()


@worker_process_init.connect
def _sandbox_without_reactions_on_demand(**_: Any) -> None:
    from networks.adapters import sandbox

    simulate = sandbox.simulate_reactions

    def maybe_simulate(post: Any, handle: str) -> list[Any]:
        if post.text.startswith(NO_REACTIONS):
            return []
        return simulate(post, handle)

    sandbox.simulate_reactions = maybe_simulate


# --- processes ------------------------------------------------------------------------------


class Children:
    """Child processes, each leading its own process group, logs to files."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(  # noqa: S603 -- our own interpreter
                cmd,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"exited early: {dead}\n{self.tails()}")

    def stop(self, *names: str, timeout: float = 15.0) -> None:
        """SIGTERM (warm shutdown), then SIGKILL the whole group of what is left."""
        chosen = {n: p for n, p in self.procs.items() if not names or n in names}
        for proc in chosen.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in chosen.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for name, proc in chosen.items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(timeout=5)
            del self.procs[name]

    def tails(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)


def _wait(probe: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _with_path(url: str, path: str) -> str:
    return urlsplit(url)._replace(path=path).geturl()


def _child_env(database_url: str, broker_url: str, var_dir: Path) -> dict[str, str]:
    """This environment without our configuration, plus what the children must share."""
    from django.conf import settings

    ours = ("PARVIS_", "CELERY_", "DATABASE_", "REDIS_", "SECRET_KEY", "EMAIL_", "CACHE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.pop("DEBUG", None)
    env.update(
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=broker_url,
        CELERY_BROKER_URL=broker_url,
        PARVIS_VAR_DIR=str(var_dir),
        # The same keys as this process: the accounts' credentials are written here.
        SECRET_KEY=settings.SECRET_KEY,
        PARVIS_ENCRYPTION_KEYS=",".join(settings.PARVIS_ENCRYPTION_KEYS),
        PARVIS_DISPATCH_INTERVAL=os.environ.get("BENCH_DISPATCH_INTERVAL", "0.5"),
        PARVIS_SANDBOX_LATENCY_MS="0",
    )
    return env


# --- the bench database -----------------------------------------------------------------------


def _ensure_database(name: str) -> None:
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
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def _using_database(name: str) -> Iterator[None]:
    """This process's default connection points at ``name`` for the duration."""
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


# --- data -------------------------------------------------------------------------------------


class Fleet(NamedTuple):
    user: Any
    accounts: list[Any]


def _fleet() -> Fleet:
    from django.contrib.auth import get_user_model

    from collectivites.models import Collectivite, SocialAccount
    from networks.adapters.sandbox import sandbox_external_id

    user = get_user_model().objects.create_user(
        username="bench-publishing@parvis.example", email="bench-publishing@parvis.example"
    )
    accounts = []
    for c in range(COLLECTIVITES):
        collectivite = Collectivite.objects.create(
            name=f"Bench {c}", slug=f"bench-publishing-{c}", validation_steps=0
        )
        for a in range(ACCOUNTS_EACH):
            handle = f"@bench{c}.{a}"
            accounts.append(
                SocialAccount.objects.create(
                    collectivite=collectivite,
                    network="sandbox",
                    handle=handle,
                    display_name=f"Bench {c}.{a}",
                    external_id=sandbox_external_id(handle),
                    credentials={"token": f"bench-{c}-{a}"},
                    status=SocialAccount.Status.CONNECTED,
                )
            )
    return Fleet(user, accounts)


def _create_variants(fleet: Fleet, n: int, label: str, *, reactions: bool) -> tuple[int, int]:
    """N approved variants parked a day ahead; returns their first and last ids."""
    from django.utils import timezone

    from publishing.models import Publication, Variant

    parked = timezone.now() + dt.timedelta(days=1)
    by_collectivite: dict[int, list[Any]] = {}
    for account in fleet.accounts:
        by_collectivite.setdefault(account.collectivite_id, []).append(account)
    groups = list(by_collectivite.items())
    publications, plan = [], []
    while len(plan) < n:
        collectivite_id, accounts = groups[len(publications) % len(groups)]
        publication = Publication(
            collectivite_id=collectivite_id,
            title=f"{label} n°{len(publications)}",
            campaign=label,
            author=fleet.user,
        )
        publications.append(publication)
        plan.extend((publication, a) for a in accounts[: n - len(plan)])
    Publication.objects.bulk_create(publications, batch_size=2000)
    prefix = "" if reactions else NO_REACTIONS
    variants = Variant.objects.bulk_create(
        (
            Variant(
                collectivite_id=account.collectivite_id,
                publication=publication,
                account=account,
                text=f"{prefix}{publication.title} : conseil municipal jeudi à 18 h, "
                "ordre du jour en ligne.",
                state=Variant.State.APPROVED,
                scheduled_at=parked,
            )
            for publication, account in plan
        ),
        batch_size=2000,
    )
    ids = [v.pk for v in variants]
    return min(ids), max(ids)


def _between(lo: int, hi: int) -> Any:
    from publishing.models import Variant

    return Variant.objects.dangerously_unscoped().filter(pk__gte=lo, pk__lte=hi)


# --- measures ---------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def _bare_tasks(app: Any, conn: Any, counter: redis.Redis, n: int, timeout: float) -> float:
    """N bench.noop through the broker; tasks/s from first send to last completion."""
    counter.delete(NOOP_COUNT_KEY, NOOP_LAST_KEY)
    producer = app.amqp.Producer(conn, auto_declare=False)
    start = time.time()
    for _ in range(n):
        app.send_task("bench.noop", producer=producer)
    _wait(
        lambda: int(counter.get(NOOP_COUNT_KEY) or 0) >= n,
        timeout=timeout,
        what=f"{n} bare tasks",
        every=0.05,
    )
    return n / (float(counter.get(NOOP_LAST_KEY)) - start)


class Run(NamedTuple):
    n: int
    seconds: float  # from the due instant to the last publication (or to giving up)
    lateness: list[float]  # published variants only
    claim_lag: list[float]  # due instant to the claiming tick's start, published variants
    states: Counter[str]
    ticks: int  # dispatch ticks that claimed some of them for the first time
    biggest_tick: int
    claim_seconds: list[float]  # per tick: from its start to its events' insert
    retried: int  # claimed more than once (lease expired, network error)
    starved: float  # share of samples with the broker queue empty while some were unclaimed

    @property
    def published(self) -> int:
        return len(self.lateness)

    @property
    def finished(self) -> bool:
        return self.published == self.n

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


def _publish_run(
    fleet: Fleet, n: int, label: str, *, reactions: bool, broker: redis.Redis, timeout: float
) -> Run:
    """Make N variants due in LEAD_SECONDS and wait until they are all out, or timeout.

    On timeout what is left is cancelled and its queued tasks dropped, so that it does
    not weigh on what is measured next."""
    from django.utils import timezone

    from publishing.models import Variant, VariantEvent

    S = Variant.State
    lo, hi = _create_variants(fleet, n, label, reactions=reactions)
    due = timezone.now() + dt.timedelta(seconds=LEAD_SECONDS)
    _between(lo, hi).update(scheduled_at=due)
    samples: list[tuple[int, int]] = []  # (broker queue length, variants still unclaimed)

    def done() -> bool:
        waiting = _between(lo, hi).filter(state__in=[S.APPROVED, S.PUBLISHING])
        if timezone.now() > due:
            samples.append((broker.llen("celery"), waiting.filter(state=S.APPROVED).count()))
        return not waiting.exists()

    try:
        _wait(done, timeout=LEAD_SECONDS + timeout, what=f"{n} variants", every=0.25)
        gave_up = None
    except TimeoutError:
        gave_up = timezone.now()
        _between(lo, hi).filter(state=S.APPROVED).update(state=S.CANCELLED)
        broker.delete("celery")
        time.sleep(2.0)  # the tasks already running finish
    rows = list(
        _between(lo, hi).values_list("pk", "state", "first_attempt_at", "published_at", "attempts")
    )
    published = [(claimed, at) for _, state, claimed, at, _ in rows if state == S.PUBLISHED]
    lateness = [(at - due).total_seconds() for _, at in published]
    ticks = Counter(claimed for claimed, _ in published)
    # How long each tick took to claim: from its start ("now", the variants'
    # first_attempt_at) to the bulk insert of its events.
    started = {pk: claimed for pk, _, claimed, _, attempts in rows if attempts == 1}
    per_tick: dict[dt.datetime, float] = {}
    for variant_id, created in (
        VariantEvent.objects.dangerously_unscoped()
        .filter(variant_id__gte=lo, variant_id__lte=hi, to_state=S.PUBLISHING)
        .values_list("variant_id", "created_at")
    ):
        if variant_id in started:
            claimed = started[variant_id]
            per_tick[claimed] = max(per_tick.get(claimed, 0.0), (created - claimed).total_seconds())
    while_unclaimed = [queued for queued, unclaimed in samples if unclaimed]
    end = gave_up or (due + dt.timedelta(seconds=max(lateness, default=0.0)))
    return Run(
        n=n,
        seconds=(end - due).total_seconds(),
        lateness=lateness,
        claim_lag=[(claimed - due).total_seconds() for claimed, _ in published],
        states=Counter(state for _, state, _, _, _ in rows),
        ticks=len(ticks),
        biggest_tick=max(ticks.values(), default=0),
        claim_seconds=list(per_tick.values()),
        retried=sum(1 for *_, attempts in rows if attempts > 1),
        starved=(
            sum(1 for queued in while_unclaimed if queued == 0) / len(while_unclaimed)
            if while_unclaimed
            else 0.0
        ),
    )


def _report(name: str, run: Run, bare: float) -> None:
    if not run.published:
        print(f"{name}: nothing published in {run.seconds:.0f} s", flush=True)
        return
    # Variants never published are later than any that was: they count at the end.
    late = run.lateness + [run.seconds] * (run.n - run.published)
    at_least = "" if run.finished else ">= "
    p99 = _pct(late, 99)
    print(
        f"{name}: {run.n} variants due at once  lateness p50 {at_least}{_pct(late, 50):.2f} s  "
        f"p99 {at_least}{p99:.2f} s  max {at_least}{max(late):.2f} s  "
        f"{run.rate:.0f} variants/s  ratio to bare {run.rate / bare:.2f}"
        + ("" if run.finished else f"  (gave up after {run.seconds:.0f} s: {run.published} out)"),
        flush=True,
    )
    per_tick = statistics.median(run.claim_seconds or [0.0])
    print(
        f"    dispatch: {run.ticks} ticks claimed them (largest {run.biggest_tick}, "
        f"{per_tick:.2f} s median per tick, {run.biggest_tick / max(per_tick, 1e-3):.0f} "
        "claims/s while claiming); "
        f"claim lag p50 {_pct(run.claim_lag, 50):.2f} s p99 {_pct(run.claim_lag, 99):.2f} s; "
        f"broker queue empty in {run.starved:.0%} of samples while some were unclaimed; "
        f"claimed more than once: {run.retried}; states {dict(run.states)}",
        flush=True,
    )
    p99_ok = run.finished and p99 < TARGET_P99_SECONDS
    rate_ok = run.rate >= TARGET_RATIO * bare
    print(
        f"    targets: p99 lateness < {TARGET_P99_SECONDS:.0f} s {'met' if p99_ok else 'MISSED'}"
        f" (at {run.rate:.0f}/s the last of {run.n} cannot go out before "
        f"{run.n / max(run.rate, 1e-9):.0f} s); throughput >= {TARGET_RATIO:.1f} x bare "
        f"{'met' if rate_ok else 'MISSED'} ({run.rate:.0f} vs {TARGET_RATIO * bare:.0f}/s)",
        flush=True,
    )


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    from django.conf import settings
    from django.core.management import call_command

    from config.celery import app

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not (
        settings.REDIS_URL
    ):
        print("skipped: needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)", flush=True)
        return
    n = int(os.environ.get("BENCH_VARIANTS", "10000"))
    # The sandbox as shipped is slower: a smaller batch by default, 0 to skip it.
    n_shipped = int(os.environ.get("BENCH_VARIANTS_AS_SHIPPED", str(min(n, 2000))))
    timeout = float(os.environ.get("BENCH_TIMEOUT", "240"))
    database_url = _with_path(os.environ["DATABASE_URL"], f"/{BENCH_DATABASE}")
    broker_url = _with_path(settings.REDIS_URL, f"/{BROKER_REDIS_DB}")
    scratch = Path(tempfile.mkdtemp(prefix="parvis-bench-publishing-"))
    (scratch / "var").mkdir()
    env = _child_env(database_url, broker_url, scratch / "var")

    _ensure_database(BENCH_DATABASE)
    subprocess.run(  # noqa: S603 -- our own interpreter
        [PYTHON, "manage.py", "migrate", "--noinput", "--verbosity=0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    children = Children(scratch)
    print(
        f"{WORKERS} workers x prefork {CONCURRENCY}, beat dispatch every "
        f"{env['PARVIS_DISPATCH_INTERVAL']} s, sandbox latency 0 ms, "
        f"database {BENCH_DATABASE}, broker Redis DB {BROKER_REDIS_DB}, logs in {scratch}",
        flush=True,
    )
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    with _using_database(BENCH_DATABASE), app.connection_for_write(broker_url) as conn:
        try:
            from audit.db import purge_window

            with purge_window():  # the audit trail refuses TRUNCATE otherwise
                call_command("flush", interactive=False, verbosity=0)
            fleet = _fleet()
            for i in range(WORKERS):
                children.start(
                    f"worker-{i}",
                    [*celery, "worker", "--loglevel=INFO", "-O", "fair", "--pool=prefork",
                     f"--concurrency={CONCURRENCY}", f"--hostname=bench{i}@%h",
                     "--without-gossip", "--without-mingle", "--include=bench.bench_publishing"],
                    env,
                )  # fmt: skip

            def workers_ready() -> bool:
                # Their logs, not app.control.ping: Celery's remote control would go
                # through this process's own broker (CELERY_BROKER_URL), not the bench's.
                children.check_alive()
                return all(
                    " ready." in (scratch / f"worker-{i}.log").read_text(errors="replace")
                    for i in range(WORKERS)
                )

            _wait(workers_ready, timeout=START_TIMEOUT, what="the workers to be ready")
            _bare_tasks(app, conn, broker, WARM_UP, timeout=60)
            bare_before = _bare_tasks(app, conn, broker, n, timeout=timeout)
            print(f"bare tasks (before): {n} at {bare_before:.0f} tasks/s", flush=True)

            children.start("beat", [*celery, "beat", "--loglevel=INFO"], env)
            for reactions in (False, True):
                _publish_run(
                    fleet, WARM_UP, "échauffement", reactions=reactions, broker=broker, timeout=60
                )
            runs = {
                "zero-latency sandbox (no simulated comments)": _publish_run(
                    fleet, n, "sans réactions", reactions=False, broker=broker, timeout=timeout
                )
            }
            if n_shipped and runs["zero-latency sandbox (no simulated comments)"].finished:
                runs["sandbox as shipped (simulated comments)"] = _publish_run(
                    fleet,
                    n_shipped,
                    "telle quelle",
                    reactions=True,
                    broker=broker,
                    timeout=timeout,
                )
            children.stop("beat")
            time.sleep(1.0)  # the last dispatch ticks drain
            bare_after = _bare_tasks(app, conn, broker, n, timeout=timeout)
            print(f"bare tasks (after): {n} at {bare_after:.0f} tasks/s", flush=True)
            bare = max(bare_before, bare_after)
            for name, run in runs.items():
                _report(name, run, bare)
        except Exception:
            print(children.tails(), file=sys.stderr, flush=True)
            raise
        finally:
            children.stop()
