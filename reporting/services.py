"""Every write of the reporting app: collecting the networks' metrics (a task, for every
collectivité) and importing a collectivité's web-analytics export (a person, checked)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from collectivites.connections import call_network
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability
from collectivites.services import require
from networks.base import AccountMetrics, AuthExpired, NetworkError, PostMetrics, RateLimited
from reporting.models import AccountMetricDay, MetricCollectionState, PostMetricDay, WebAnalyticsRow

logger = logging.getLogger(__name__)

# --- collecting the networks' metrics ---------------------------------------------------------

BACKFILL_DAYS = 30  # after an outage, missing days are fetched again up to this far back
POST_WINDOW_DAYS = 30  # posts published in the last 30 days are measured every day
CLAIM_LEASE = dt.timedelta(minutes=30)
TRANSIENT_RETRY = dt.timedelta(hours=1)
# Each account's daily run falls at its own moment in this window after midnight UTC, so
# thousands of accounts do not hit the networks in the same minute.
SPREAD_START = dt.timedelta(hours=1)
SPREAD_WINDOW_SECONDS = 5 * 3600
# Networks that only tell today's follower count, whatever the day asked: a back-filled
# past day gets None there rather than a number that belongs to another day.
FOLLOWERS_NOW_ONLY = frozenset({"x", "mastodon", "bluesky"})


def _slot(account_id: int, after: dt.datetime) -> dt.datetime:
    """The account's daily moment, the first one after ``after``."""
    offset = SPREAD_START + dt.timedelta(
        seconds=zlib.crc32(str(account_id).encode()) % SPREAD_WINDOW_SECONDS
    )
    day = after.astimezone(dt.UTC).date()
    moment = dt.datetime.combine(day, dt.time(), dt.UTC) + offset
    while moment <= after:
        moment += dt.timedelta(days=1)
    return moment


def metrics_collect_due(
    *, now: dt.datetime | None = None, limit: int = 200
) -> list[tuple[int, int]]:
    """Claim accounts whose daily metrics are due (cross-tenant: the scheduler serves every
    collectivité) and queue one task each once committed."""
    from reporting.tasks import collect_account_metrics_task

    now = now or timezone.now()
    for account in (
        SocialAccount.objects.dangerously_unscoped()
        .filter(status=SocialAccount.Status.CONNECTED, metric_collection__isnull=True)
        .only("pk", "collectivite_id")[:limit]
    ):
        MetricCollectionState.objects.get_or_create(
            collectivite_id=account.collectivite_id,
            account=account,
            defaults={"next_run_at": _slot(account.pk, now)},
        )
    claimed: list[tuple[int, int]] = []
    with transaction.atomic():
        states = list(
            MetricCollectionState.objects.dangerously_unscoped()
            .select_for_update(skip_locked=True)
            .filter(next_run_at__lte=now, account__status=SocialAccount.Status.CONNECTED)
            .order_by("next_run_at")[:limit]
        )
        for state in states:
            # the lease: if the task never runs, the account comes back after it
            MetricCollectionState.objects.dangerously_unscoped().filter(pk=state.pk).update(
                next_run_at=now + CLAIM_LEASE
            )
            claimed.append((state.collectivite_id, state.account_id))
        if claimed:
            transaction.on_commit(
                lambda: [collect_account_metrics_task.delay(c, a) for c, a in claimed]
            )
    return claimed


@dataclass
class CollectionResult:
    days: list[dt.date] = field(default_factory=list)
    posts: int = 0
    error: str = ""


def _account_row(account: SocialAccount, m: AccountMetrics, day: dt.date, keep_followers: bool):
    return AccountMetricDay(
        collectivite_id=account.collectivite_id,
        account=account,
        day=day,
        followers=m.followers if keep_followers else None,
        impressions=m.impressions,
        reach=m.reach,
        profile_visits=m.profile_visits,
        link_clicks=m.link_clicks,
    )


ACCOUNT_FIELDS = ["followers", "impressions", "reach", "profile_visits", "link_clicks"]
POST_FIELDS = [
    "impressions",
    "reach",
    "reactions",
    "comments",
    "shares",
    "saves",
    "link_clicks",
    "video_views",
]


def _upsert_account_day(row: AccountMetricDay) -> None:
    AccountMetricDay.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["account", "day"],
        update_fields=[*ACCOUNT_FIELDS, "collected_at"],
    )


def _upsert_post_days(rows: list[PostMetricDay]) -> None:
    if rows:
        PostMetricDay.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["variant", "day"],
            update_fields=[*POST_FIELDS, "collected_at"],
        )


def _local_today(account: SocialAccount, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(account.collectivite.time_zone)).date()


def metrics_collect_account(
    *, account: SocialAccount, now: dt.datetime | None = None
) -> CollectionResult:
    """Yesterday's account metrics (and any day missed since the last run, up to 30 days
    back), then today's totals of every post published in the last 30 days. Each day is
    an upsert: running twice stores the same rows. A network error ends the run as a
    normal outcome, kept in the state; the next run resumes where this one stopped."""
    from publishing.models import Variant

    now = now or timezone.now()
    today = _local_today(account, now)
    yesterday = today - dt.timedelta(days=1)
    scoped = MetricCollectionState.objects.for_collectivite(account.collectivite_id)
    state, _created = scoped.get_or_create(collectivite_id=account.collectivite_id, account=account)
    first = yesterday
    if state.last_day is not None:
        first = max(state.last_day + dt.timedelta(days=1), today - dt.timedelta(days=BACKFILL_DAYS))
    result = CollectionResult()
    retry_at: dt.datetime | None = None
    try:
        day = first
        while day <= yesterday:
            metrics = call_network(account, lambda a, ref, d=day: a.fetch_account_metrics(ref, d))
            keep = day == yesterday or account.network not in FOLLOWERS_NOW_ONLY
            with transaction.atomic():
                _upsert_account_day(_account_row(account, metrics, day, keep))
                scoped.filter(pk=state.pk).update(last_day=day)
            result.days.append(day)
            day += dt.timedelta(days=1)
        since = now - dt.timedelta(days=POST_WINDOW_DAYS)
        variants = dict(
            Variant.objects.for_collectivite(account.collectivite_id)
            .filter(
                account=account,
                state=Variant.State.PUBLISHED,
                published_at__gte=since,
            )
            .exclude(external_id="")
            .values_list("external_id", "pk")
        )
        if variants:
            external_ids = sorted(variants)
            posts: list[PostMetrics] = call_network(
                account, lambda a, ref: a.fetch_post_metrics(ref, external_ids)
            )
            rows = [
                PostMetricDay(
                    collectivite_id=account.collectivite_id,
                    variant_id=variants[m.external_id],
                    day=today,
                    **{f: getattr(m, f) for f in POST_FIELDS},
                )
                for m in posts
                if m.external_id in variants
            ]
            _upsert_post_days(rows)
            result.posts = len(rows)
    except RateLimited as exc:
        result.error = _("Le réseau demande de ralentir.")
        retry_at = timezone.now() + dt.timedelta(seconds=exc.retry_after or 900)
    except AuthExpired:
        # call_network has marked the account "to reconnect" and told its admins; the
        # days missed are back-filled once it is reconnected.
        result.error = _("Le compte doit être reconnecté.")
    except NetworkError as exc:
        result.error = f"{type(exc).__name__}: {exc.message}"[:300]
        retry_at = timezone.now() + TRANSIENT_RETRY
    if result.error:
        logger.info("metrics of account %s: %s", account.pk, result.error)
    next_run = _slot(account.pk, now)
    scoped.filter(pk=state.pk).update(
        last_run_at=now,
        last_error=result.error,
        next_run_at=min(retry_at, next_run) if retry_at else next_run,
    )
    return result


# --- importing the web-analytics export -------------------------------------------------------

MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_LISTED_ERRORS = 50


def _norm(header: str) -> str:
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


# Column names seen in Matomo, Piwik PRO, AT Internet / Piano and Google Analytics exports
# (normalised: lower case, no accents, no spaces or punctuation).
COLUMNS: dict[str, tuple[str, ...]] = {
    "day": ("date", "jour", "day", "periode", "datedevisite", "datejour", "dateday"),
    "url": (
        "url",
        "page",
        "pageurl",
        "urldelapage",
        "adressedelapage",
        "pages",
        "pagename",
        "nomdelapage",
        "label",
        "libelle",
        "pagedentree",
        "landingpage",
        "pagepath",
        "chemindelapage",
    ),
    "utm_source": ("utmsource", "source", "campaignsource", "sourcedecampagne", "sourcecampagne"),
    "utm_medium": (
        "utmmedium",
        "medium",
        "support",
        "campaignmedium",
        "supportdecampagne",
        "canal",
    ),
    "utm_campaign": (
        "utmcampaign",
        "campaign",
        "campagne",
        "campaignname",
        "nomdecampagne",
        "nomdelacampagne",
    ),
    "visits": (
        "visits",
        "visites",
        "nbvisits",
        "nbvisites",
        "nombredevisites",
        "sessions",
        "entrees",
        "entrances",
        "nbentrees",
    ),
}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")


@dataclass
class ImportResult:
    rows: int = 0  # lines read
    stored: int = 0  # distinct (day, page, source, medium, campaign) stored or replaced
    errors: list[str] = field(default_factory=list)
    error_count: int = 0

    @property
    def message(self) -> str:
        return _("%(stored)d ligne(s) enregistrée(s), %(errors)d ligne(s) refusée(s).") % {
            "stored": self.stored,
            "errors": self.error_count,
        }


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        return text
    return data.decode("cp1252", errors="replace")


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _norm(name)
        for target, aliases in COLUMNS.items():
            if target not in found and key in aliases:
                found[target] = index
    return found


def _parse_day(value: str) -> dt.date | None:
    value = value.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]", value):
        value = value[:10]
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _parse_visits(value: str) -> int | None:
    text = re.sub(r"[\s\u00a0\u202f']", "", value)
    if re.fullmatch(r"\d+([.,]0+)?", text):
        return int(re.split(r"[.,]", text)[0])
    return None


def _split_utm(url: str) -> tuple[str, dict[str, str]]:
    """A page URL whose query carries utm_* parameters: the page without them, and them."""
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    utm: dict[str, str] = {}
    kept = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in ("utm_source", "utm_medium", "utm_campaign"):
            utm[key.lower()] = value
        else:
            kept.append((key, value))
    if not utm:
        return url, {}
    return urlunsplit(parts._replace(query=urlencode(kept))), utm


def parse_web_analytics(data: bytes) -> tuple[dict[tuple[Any, ...], int], ImportResult]:
    """Read an export: {(day, url, source, medium, campaign): visits} (lines with the same
    key add up) and the per-line French errors."""
    result = ImportResult()
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError(
            _("Le fichier dépasse %(mb)d Mo : exportez une période plus courte.")
            % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)}
        )
    text = _decode(data)
    if not text.strip():
        raise ValidationError(_("Le fichier est vide."))
    sample = text[:4096]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    columns: dict[str, int] = {}
    for line in reader:
        if not any(cell.strip() for cell in line):
            continue
        header = line
        columns = _columns(line)
        break
    if header is None:
        raise ValidationError(_("Le fichier est vide."))
    missing = [
        name for key, name in (("day", _("date")), ("visits", _("visites"))) if key not in columns
    ]
    if "url" not in columns and not {"utm_source", "utm_campaign"} & columns.keys():
        missing.append(_("page ou source/campagne"))
    if missing:
        raise ValidationError(
            _(
                "Colonnes introuvables : %(missing)s. Colonnes lues : %(found)s. "
                "Attendu par exemple : date, page, utm_source, utm_medium, utm_campaign, visites."
            )
            % {"missing": ", ".join(missing), "found": ", ".join(h.strip() for h in header)}
        )
    totals: dict[tuple[Any, ...], int] = {}

    def cell(line: list[str], key: str) -> str:
        index = columns.get(key)
        return line[index].strip() if index is not None and index < len(line) else ""

    for line in reader:
        number = reader.line_num
        if not any(c.strip() for c in line):
            continue
        result.rows += 1
        problems = []
        raw_day = cell(line, "day")
        day = _parse_day(raw_day)
        if day is None:
            problems.append(
                _("date illisible « %(value)s » (attendu AAAA-MM-JJ ou JJ/MM/AAAA)")
                % {"value": raw_day}
            )
        raw_visits = cell(line, "visits")
        visits = _parse_visits(raw_visits)
        if visits is None:
            problems.append(
                _("nombre de visites illisible « %(value)s » (attendu un entier positif)")
                % {"value": raw_visits}
            )
        url, utm = _split_utm(cell(line, "url"))
        source = cell(line, "utm_source") or utm.get("utm_source", "")
        medium = cell(line, "utm_medium") or utm.get("utm_medium", "")
        campaign = cell(line, "utm_campaign") or utm.get("utm_campaign", "")
        if len(url) > 2000 or max(len(source), len(medium), len(campaign)) > 200:
            problems.append(_("valeur trop longue (page : 2000 caractères, UTM : 200)"))
        if problems:
            result.error_count += 1
            if len(result.errors) < MAX_LISTED_ERRORS:
                result.errors.append(
                    _("Ligne %(n)d : %(problems)s.")
                    % {"n": number, "problems": " ; ".join(problems)}
                )
            continue
        key = (day, url, source.lower(), medium.lower(), campaign)
        totals[key] = totals.get(key, 0) + (visits or 0)
    return totals, result


def web_analytics_import(
    *, actor: AbstractBaseUser, collectivite: Collectivite, data: bytes
) -> ImportResult:
    """Import the collectivité's web-analytics export. Valid lines are stored (the same day,
    page and UTM imported again replace the earlier figure: importing twice changes
    nothing); each refused line is listed with its number and why."""
    require(actor, collectivite, Capability.REPORTING_IMPORT)
    totals, result = parse_web_analytics(data)
    if not totals:
        if result.error_count:
            raise ValidationError(
                [_("Aucune ligne n'a pu être lue.")] + result.errors  # type: ignore[operator]
            )
        raise ValidationError(_("Le fichier ne contient aucune ligne de données."))
    rows = [
        WebAnalyticsRow(
            collectivite=collectivite,
            day=day,
            url=url,
            utm_source=source,
            utm_medium=medium,
            utm_campaign=campaign,
            visits=visits,
            imported_by=actor,
        )
        for (day, url, source, medium, campaign), visits in totals.items()
    ]
    with transaction.atomic():
        for start in range(0, len(rows), 2000):
            WebAnalyticsRow.objects.bulk_create(
                rows[start : start + 2000],
                update_conflicts=True,
                unique_fields=[
                    "collectivite",
                    "day",
                    "url",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                ],
                update_fields=["visits", "imported_at", "imported_by"],
            )
    result.stored = len(rows)
    return result


# --- the monthly report: who receives it, and sending it ----------------------------------------


def report_recipient_ids(*, collectivite: Collectivite) -> list[int]:
    from reporting.models import ReportRecipient

    return list(
        ReportRecipient.objects.for_collectivite(collectivite).values_list("user_id", flat=True)
    )


def report_recipients_set(
    *, actor: AbstractBaseUser, collectivite: Collectivite, user_ids: list[int]
) -> list[int]:
    """Replace the list of members who receive the monthly report (admins only)."""
    from collectivites.models import Membership
    from reporting.models import ReportRecipient

    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    wanted = set(user_ids)
    members = set(
        Membership.objects.for_collectivite(collectivite).values_list("user_id", flat=True)
    )
    if wanted - members:
        raise ValidationError(
            {"users": _("Seuls les membres de la collectivité peuvent recevoir le rapport.")}
        )
    with transaction.atomic():
        ReportRecipient.objects.for_collectivite(collectivite).exclude(user_id__in=wanted).delete()
        ReportRecipient.objects.bulk_create(
            [ReportRecipient(collectivite=collectivite, user_id=u) for u in sorted(wanted)],
            ignore_conflicts=True,
        )
    return sorted(wanted)


def monthly_report_link(*, collectivite: Collectivite, period: Any) -> str:
    from django.urls import reverse

    from reporting.forms import period_param

    url = reverse("reporting_pdf", kwargs={"collectivite_slug": collectivite.slug})
    return f"{url}?periode={period_param(period)}"


def monthly_report_send(*, collectivite: Collectivite, period: Any) -> int:
    """E-mail the report of ``period`` (PDF attached) to each recipient who has not had it
    yet; return how many were sent.

    At most once per recipient and period, whatever the retries and however many workers
    run it: the ``ReportDelivery`` row is claimed and committed before the e-mail goes to
    the mail server (the unique constraint lets one worker win the claim), and marked sent
    after. A send that raises (the mail server refused or was unreachable) releases the
    claim and re-raises, so the task's retry sends it; a worker that dies after the claim
    and before ``sent_at`` leaves the claim, and the report is not sent again for that
    recipient: we chose at-most-once (a missing monthly report can be downloaded from the
    dashboard, a duplicate cannot be taken back). The in-app notification "your report was
    sent" follows a confirmed send; recipients who got a report before ``ReportDelivery``
    existed are recognised by that notification.
    """
    from django.conf import settings
    from django.core.mail import EmailMessage
    from django.template.loader import render_to_string
    from django.urls import reverse
    from django.utils import translation

    from collectivites.models import Membership, Notification
    from reporting import report
    from reporting.forms import period_param
    from reporting.models import ReportDelivery, ReportRecipient

    link = monthly_report_link(collectivite=collectivite, period=period)
    members = set(
        Membership.objects.for_collectivite(collectivite).values_list("user_id", flat=True)
    )
    recipients = [
        r
        for r in ReportRecipient.objects.for_collectivite(collectivite)
        .select_related("user")
        .order_by("user_id")
        if r.user_id in members and r.user.email and r.user.is_active
    ]
    deliveries = ReportDelivery.objects.for_collectivite(collectivite)
    pdf: bytes | None = None
    sent = 0
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Parvis — %(c)s : le rapport de %(p)s") % {
            "c": collectivite.name,
            "p": period.label,
        }
        message = _("Le rapport de %(p)s vous a été envoyé par e-mail.") % {"p": period.label}
        for recipient in recipients:
            legacy = (
                Notification.objects.for_collectivite(collectivite)
                .filter(user_id=recipient.user_id, link=link)
                .values_list("created_at", flat=True)
                .first()
            )
            with transaction.atomic():
                delivery, claimed = deliveries.get_or_create(
                    collectivite=collectivite,
                    user_id=recipient.user_id,
                    period_start=period.start,
                    defaults={"sent_at": legacy},
                )
            if not claimed or legacy is not None:
                continue
            try:
                if pdf is None:
                    pdf = report.render_pdf(report.build_report(collectivite, period))
                body = render_to_string(
                    "reporting/email/monthly_report.txt",
                    {
                        "collectivite": collectivite,
                        "period": period,
                        "user": recipient.user,
                        "url": settings.PARVIS_BASE_URL + link,
                        "dashboard_url": settings.PARVIS_BASE_URL
                        + reverse(
                            "reporting_dashboard",
                            kwargs={"collectivite_slug": collectivite.slug},
                        ),
                    },
                )
                email = EmailMessage(subject, body, None, [recipient.user.email])
                email.attach(
                    report.pdf_filename(collectivite, period_param(period)),
                    pdf,
                    "application/pdf",
                )
                email.send()
            except BaseException:
                deliveries.filter(pk=delivery.pk, sent_at__isnull=True).delete()
                raise
            with transaction.atomic():
                deliveries.filter(pk=delivery.pk).update(sent_at=timezone.now())
                Notification.objects.create(
                    collectivite=collectivite, user_id=recipient.user_id, message=message, link=link
                )
            sent += 1
    return sent


# --- the inbox's daily rollup (InboxDay) --------------------------------------------------------

# The advisory lock class of a collectivité's rollup (with its id): taken exclusively by the
# rebuild, shared by every invalidation (migration 0005).
INBOX_DAY_LOCK = 1919250020


def _inbox_day_sql() -> str:
    """One statement: the given days of one collectivité counted from its items (grouped
    by day in its time zone, every day given gets a row, zero included) and upserted. The
    counts are those of ``reporting.kpis`` (``_inbox``, ``_label_filter``)."""
    from reporting.models import INBOX_DAY_COUNTS, INBOX_DAY_LABELS

    labels = ",\n".join(
        f'count(*) FILTER (WHERE labels @> \'[{{"code": "{code}"}}]\') AS label_{code}'
        for code in INBOX_DAY_LABELS
    )
    counts = ", ".join(INBOX_DAY_COUNTS)
    coalesced = ", ".join(f"coalesce(c.{name}, 0)" for name in INBOX_DAY_COUNTS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in INBOX_DAY_COUNTS)
    return f"""
WITH days AS (SELECT unnest(%(days)s::date[]) AS day),
counts AS (
    SELECT (created_at AT TIME ZONE %(tz)s)::date AS day,
        count(*) AS volume,
        count(*) FILTER (WHERE needs_answer) AS requests,
        count(*) FILTER (WHERE needs_answer AND first_response_at IS NOT NULL) AS answered,
        count(*) FILTER (WHERE needs_answer AND status = 'clos') AS resolved,
        count(*) FILTER (WHERE kind = 'mention') AS mentions,
        {labels}
    FROM monitoring_inboxitem
    WHERE collectivite_id = %(c)s AND ({{ranges}})
    GROUP BY 1
)
INSERT INTO reporting_inboxday (collectivite_id, day, time_zone, {counts}, computed_at)
SELECT %(c)s, days.day, %(tz)s, {coalesced}, now()
FROM days LEFT JOIN counts c ON c.day = days.day
ON CONFLICT (collectivite_id, day) DO UPDATE SET
    time_zone = EXCLUDED.time_zone, {updates}, computed_at = EXCLUDED.computed_at
"""  # noqa: S608 -- column names and label codes are constants, the values parameters


def _day_ranges(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as ranges of consecutive days, each ``(first, end)``, end excluded."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + dt.timedelta(days=1))
        else:
            ranges.append((day, day + dt.timedelta(days=1)))
    return ranges


def inbox_days_refresh(
    *, collectivite: Collectivite, today: dt.date | None = None, full: bool = False
) -> int:
    """Roll up the collectivité's settled days (``InboxDay``): from the day of its first
    message (``INBOX_DAY_HORIZON_DAYS`` back at least) to ``INBOX_DAY_SETTLED_DAYS``
    before today (in its time zone), the days that have no row (never rolled up, or
    invalidated since), or all of them with ``full``. Rows of another time zone (the
    collectivité's changed) are dropped. PostgreSQL only (elsewhere the KPIs always count
    the items). Returns how many days were written.

    One transaction, under the collectivité's advisory lock taken exclusively before
    anything is read: a change of an item waits for the count to be committed and then
    deletes the row it makes stale, or was committed before and is counted."""
    from django.db import connection

    from monitoring.models import InboxItem
    from reporting.models import INBOX_DAY_HORIZON_DAYS, INBOX_DAY_SETTLED_DAYS, InboxDay

    if connection.vendor != "postgresql":
        return 0
    tz = collectivite.time_zone
    zone = ZoneInfo(tz)
    if today is None:
        today = timezone.now().astimezone(zone).date()
    last = today - dt.timedelta(days=INBOX_DAY_SETTLED_DAYS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [INBOX_DAY_LOCK, collectivite.pk % 2147483648],
            )
        rows = InboxDay.objects.for_collectivite(collectivite)
        rows.exclude(time_zone=tz).delete()
        first_at = (
            InboxItem.objects.for_collectivite(collectivite)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        first = last - dt.timedelta(days=INBOX_DAY_HORIZON_DAYS)
        if first_at is not None:
            first = min(first, first_at.astimezone(zone).date())
        every = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
        if full:
            days = every
        else:
            known = set(rows.filter(day__gte=first, day__lte=last).values_list("day", flat=True))
            days = [d for d in every if d not in known]
        if not days:
            return 0
        params: dict[str, Any] = {"c": collectivite.pk, "tz": tz, "days": days}
        where = []
        for k, (a, b) in enumerate(_day_ranges(days)):
            params[f"a{k}"] = dt.datetime.combine(a, dt.time(), zone)
            params[f"b{k}"] = dt.datetime.combine(b, dt.time(), zone)
            where.append(f"(created_at >= %(a{k})s AND created_at < %(b{k})s)")
        with connection.cursor() as cursor:
            cursor.execute(_inbox_day_sql().replace("{ranges}", " OR ".join(where)), params)
    return len(days)


def inbox_days_refresh_all(*, full: bool = False) -> int:
    """``inbox_days_refresh`` of every collectivité, each in its own transaction (the
    nightly task)."""
    written = 0
    for collectivite in Collectivite.objects.order_by("pk"):
        written += inbox_days_refresh(collectivite=collectivite, full=full)
    return written


def inbox_days_invalidate(
    *, collectivite_id: int, created_at: list[dt.datetime], now: dt.datetime | None = None
) -> bool:
    """For the collection, after it stored a page of new items (same transaction): the
    rolled-up days of those written more than ``INBOX_LATE_HOURS`` ago are deleted, so the
    KPIs count them from the items until the next rebuild. Items younger than that cannot
    fall on a rolled-up day: nothing is sent for them (a normal page costs no statement).
    True when the database was asked."""
    from django.db import connection

    from reporting.models import INBOX_LATE_HOURS

    if connection.vendor != "postgresql":
        return False
    limit = (now or timezone.now()) - dt.timedelta(hours=INBOX_LATE_HOURS)
    late = sorted({at for at in created_at if at < limit})
    if not late:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reporting_inbox_days_invalidate(%s::bigint[], %s::timestamptz[])",
            [[collectivite_id] * len(late), late],
        )
    return True
