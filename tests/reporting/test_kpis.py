"""KPIs against a small intercommunalité whose expected figures are computed by hand here.

The world (November 2026, compared with October 2026; Europe/Paris):

- "Val de Loue" (intercommunalité, 30 000 inhabitants), with two communes:
  "Aubel" (12 000, a Facebook account ``fb``) and "Brézolles" (8 000, a Mastodon account
  ``md``, which gives followers only). A stranger collectivité holds rows that must never
  count.
- Followers (last day with data in each month):
  fb: 30 Sep 950, 31 Oct 1000, 30 Nov 1050; md: 30 Sep 200, 31 Oct 210, 30 Nov 230.
- Daily reach / impressions of fb: Oct 15 300/500, Oct 31 200/400; Nov 10 500/800,
  Nov 30 700/1200. md: none (not provided).
- Posts (latest snapshot counts):
  V0 fb, 20 Oct: 200 impressions, 8 reactions + 2 comments = 10 interactions.
  V1 fb, 5 Nov (scheduled 10:00, approved on the 4th, image with alt text):
     an early snapshot (100 impressions) then the latest: 400 impressions, 300 reach,
     20 reactions, 6 comments, 4 shares = 30 interactions.
  V2 md, 12 Nov (scheduled 10:00, approved 11:00: late): 6 + 3 + 1 = 10 interactions,
     no impressions.
  V3 fb, 25 Nov, urgent alert (no schedule, image WITHOUT alt text): 1 500 impressions,
     900 reach, 50 + 10 + 40 = 100 interactions.
- Inbox (fb, charter of Aubel: 09:00-17:00, target 4 h; Brézolles: no charter, 09:00-17:30):
  I1 question Mon 2 Nov 10:00 answered 13:00 (3 h);
  I2 réclamation Fri 6 Nov 16:00 answered Mon 9 Nov 10:00 (1 h + 1 h = 2 h);
  I3 question Tue 10 Nov 16:00 answered Thu 12 Nov 15:00, closed
     (1 h + Wed 11 Nov is a public holiday + 6 h = 7 h);
  I4 question 20 Nov, no answer yet; I5 a positive mention (no answer needed).
  October: one question Mon 5 Oct 09:00 answered 15:00 (6 h).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from collectivites.models import Collectivite
from monitoring.models import Citizen, InboxItem, Tag
from publishing.models import Variant, VariantEvent, VariantMedia
from reporting import kpis
from reporting.kpis import Period
from reporting.models import AccountMetricDay, PostMetricDay, WebAnalyticsRow
from tests import factories

PARIS = ZoneInfo("Europe/Paris")
NOV = Period.month(2026, 11)


def at(day: int, hour: int, month: int = 11, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=PARIS)


class Val:
    """The world above, built once per test."""

    def __init__(self) -> None:
        self.interco = factories.CollectiviteFactory(
            name="Val de Loue", kind=Collectivite.Kind.INTERCOMMUNALITE, population=30000
        )
        self.aubel = factories.CollectiviteFactory(
            name="Aubel", population=12000, parent=self.interco
        )
        self.brez = factories.CollectiviteFactory(
            name="Brézolles", population=8000, parent=self.interco
        )
        self.stranger = factories.CollectiviteFactory(name="Ailleurs")
        self.fb = factories.SocialAccountFactory(collectivite=self.aubel, network="facebook")
        self.md = factories.SocialAccountFactory(collectivite=self.brez, network="mastodon")
        other = factories.SocialAccountFactory(collectivite=self.stranger, network="facebook")
        factories.ModerationCharterFactory(
            collectivite=self.aubel,
            business_hours_start=dt.time(9),
            business_hours_end=dt.time(17),
            response_target_hours=4,
        )
        factories.EditorialLineFactory(account=self.fb, cadence_per_week=3)

        def day(account, d, **values):
            AccountMetricDay.objects.create(
                collectivite=account.collectivite, account=account, day=d, **values
            )

        day(self.fb, dt.date(2026, 9, 30), followers=950)
        day(self.fb, dt.date(2026, 10, 15), followers=980, reach=300, impressions=500)
        day(self.fb, dt.date(2026, 10, 31), followers=1000, reach=200, impressions=400)
        day(self.fb, dt.date(2026, 11, 10), followers=1020, reach=500, impressions=800)
        day(self.fb, dt.date(2026, 11, 30), followers=1050, reach=700, impressions=1200)
        day(self.fb, dt.date(2026, 12, 1), followers=5000, reach=9999)  # after the period
        for d, f in ((dt.date(2026, 9, 30), 200), (dt.date(2026, 10, 31), 210)):
            day(self.md, d, followers=f)
        day(self.md, dt.date(2026, 11, 30), followers=230)
        day(other, dt.date(2026, 11, 30), followers=99999, reach=99999)

        user = factories.UserFactory()

        def post(account, published, *, urgent=False, scheduled=None, title="Post"):
            pub = factories.PublicationFactory(
                collectivite=account.collectivite, author=user, urgent=urgent, title=title
            )
            return factories.VariantFactory(
                publication=pub,
                account=account,
                state=Variant.State.PUBLISHED,
                published_at=published,
                scheduled_at=scheduled,
                external_id=f"ext-{title}",
            )

        def snap(variant, d, **values):
            PostMetricDay.objects.create(
                collectivite=variant.collectivite, variant=variant, day=d, **values
            )

        self.v0 = post(self.fb, at(20, 12, month=10), title="V0")
        snap(self.v0, dt.date(2026, 10, 21), impressions=200, reactions=8, comments=2)
        self.v1 = post(self.fb, at(5, 10), scheduled=at(5, 10), title="V1")
        snap(self.v1, dt.date(2026, 11, 6), impressions=100, reach=80, reactions=5, comments=2)
        snap(
            self.v1,
            dt.date(2026, 11, 20),
            impressions=400,
            reach=300,
            reactions=20,
            comments=6,
            shares=4,
        )
        self.v2 = post(self.md, at(12, 10), scheduled=at(12, 10), title="V2")
        snap(self.v2, dt.date(2026, 11, 13), reactions=6, comments=3, shares=1)
        self.v3 = post(self.fb, at(25, 8), urgent=True, title="V3")
        snap(
            self.v3,
            dt.date(2026, 11, 26),
            impressions=1500,
            reach=900,
            reactions=50,
            comments=10,
            shares=40,
        )
        x = post(other, at(10, 10), title="X")
        snap(x, dt.date(2026, 11, 11), impressions=100000, reactions=100000)
        # V3 had none; V2 was approved after its scheduled time
        for variant, approved in ((self.v1, at(4, 15)), (self.v2, at(12, 11))):
            event = VariantEvent.objects.create(
                collectivite=variant.collectivite,
                variant=variant,
                from_state="in_review",
                to_state="approved",
            )
            VariantEvent.objects.for_collectivite(variant.collectivite).filter(pk=event.pk).update(
                created_at=approved
            )
        with_alt = factories.MediaAssetFactory(collectivite=self.aubel)
        without_alt = factories.MediaAssetFactory(collectivite=self.aubel, alt_text="")
        VariantMedia.objects.create(collectivite=self.aubel, variant=self.v1, asset=with_alt)
        VariantMedia.objects.create(collectivite=self.aubel, variant=self.v3, asset=without_alt)

        citizen = Citizen.objects.create(
            collectivite=self.aubel, network="facebook", external_id="c"
        )
        voirie = Tag.objects.create(collectivite=self.aubel, name="voirie")

        def item(n, created, label, *, answered=None, status="nouveau", kind="comment", need=True):
            obj = InboxItem.objects.create(
                collectivite=self.aubel,
                account=self.fb,
                network="facebook",
                kind=kind,
                external_id=f"i{n}",
                citizen=citizen,
                text="…",
                created_at=created,
                labels=[{"code": label, "score": 0.8, "reasons": []}],
                needs_answer=need,
                first_response_at=answered,
                status=status,
            )
            return obj

        item(1, at(2, 10), "question", answered=at(2, 13), status="repondu").tags.add(voirie)
        item(2, at(6, 16), "reclamation", answered=at(9, 10), status="repondu").tags.add(voirie)
        item(3, at(10, 16), "question", answered=at(12, 15), status="clos")
        item(4, at(20, 9), "question")
        item(5, at(21, 9), "positif", kind="mention", need=False)
        item(6, at(5, 9, month=10), "question", answered=at(5, 15, month=10), status="repondu")

        for d, source, medium, visits in (
            (dt.date(2026, 11, 5), "facebook", "social", 40),
            (dt.date(2026, 11, 6), "newsletter", "email", 100),  # not from a network
            (dt.date(2026, 10, 7), "facebook", "social", 25),
        ):
            WebAnalyticsRow.objects.create(
                collectivite=self.aubel,
                day=d,
                url="https://aubel.example/agenda",
                utm_source=source,
                utm_medium=medium,
                visits=visits,
            )


@pytest.fixture
def val(db) -> Val:
    return Val()


def figures(fs: list[kpis.Figure]) -> dict[str, kpis.Figure]:
    return {f.key: f for f in fs}


def test_periods() -> None:
    assert (NOV.start, NOV.end, NOV.label) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 1),
        "novembre 2026",
    )
    assert NOV.previous() == Period.month(2026, 10)
    assert Period.month(2026, 1).previous() == Period.month(2025, 12)
    q4 = Period.quarter(2026, 4)
    assert (q4.start, q4.end, q4.label) == (dt.date(2026, 10, 1), dt.date(2027, 1, 1), "T4 2026")
    assert q4.previous() == Period.quarter(2026, 3)
    assert Period.year(2026).label == "2026"
    assert Period.year(2026).previous() == Period.year(2025)
    assert Period.containing(dt.date(2026, 8, 15), "quarter") == Period.quarter(2026, 3)
    custom = Period.custom(dt.date(2026, 11, 10), dt.date(2026, 11, 20))
    assert custom.previous() == Period.custom(dt.date(2026, 10, 31), dt.date(2026, 11, 10))
    with pytest.raises(ValueError):
        Period.custom(dt.date(2026, 11, 10), dt.date(2026, 11, 10))


def test_scope_of_an_interco_is_itself_and_its_communes(val: Val) -> None:
    assert kpis.scope_ids(val.interco) == [val.interco.pk, val.aubel.pk, val.brez.pk]
    assert kpis.scope_ids(val.aubel) == [val.aubel.pk]


def test_interco_summary_sums_its_communes(val: Val) -> None:
    f = figures(kpis.summary(val.interco, NOV))
    # audience: last known followers of each account at the end of each month
    assert f["audience"].value == 1050 + 230 == 1280
    assert f["audience"].previous == 1000 + 210 == 1210
    # growth: (1050 - 1000) + (230 - 210); before: (1000 - 950) + (210 - 200)
    assert f["audience_growth"].value == 70
    assert f["audience_growth"].previous == 60
    assert f["audience_growth"].change == pytest.approx((70 - 60) / 60)
    # reach: fb's daily reach only (Mastodon gives none)
    assert f["reach"].value == 500 + 700
    assert f["reach"].previous == 300 + 200
    # per 1 000 inhabitants of the interco (30 000)
    assert f["reach_per_1000"].value == pytest.approx(1200 * 1000 / 30000)  # 40
    assert f["reach_per_1000"].previous == pytest.approx(500 * 1000 / 30000)
    # engagement: fb (30 + 100) / (400 + 1500) views; md has no views: 10 interactions
    # over 230 followers (its count at the end of November)
    assert f["engagement_rate"].value == pytest.approx((30 + 100 + 10) * 100 / (400 + 1500 + 230))
    assert f["engagement_rate"].previous == pytest.approx(10 * 100 / 200)  # V0: 5 %
    # first response in business hours: [3, 2, 7] h -> median 3 h; October: 6 h
    assert f["response_time_median"].value == pytest.approx(3.0)
    assert f["response_time_median"].previous == pytest.approx(6.0)
    assert f["response_time_median"].sentence == (
        "Les habitants ont obtenu une réponse en 3 h en médiane, contre 6 h le mois précédent."
    )
    # 3 answered out of 4 questions/réclamations; October 1 out of 1
    assert f["response_rate"].value == pytest.approx(75.0)
    assert f["response_rate"].previous == pytest.approx(100.0)
    assert f["posts_published"].value == 3
    assert f["posts_published"].previous == 1
    assert f["alerts_reach"].value == 900
    assert f["alerts_reach"].previous is None


def test_a_commune_alone_and_not_provided_is_none_not_zero(val: Val) -> None:
    f = figures(kpis.summary(val.brez, NOV))
    assert f["audience"].value == 230
    assert f["reach"].value is None  # Mastodon gives no reach: not 0
    assert f["reach_per_1000"].value is None
    assert "aucun des réseaux" in f["reach"].sentence
    assert f["engagement_rate"].value == pytest.approx(10 * 100 / 230)
    assert f["response_time_median"].value is None
    assert f["response_rate"].value is None  # nothing to answer: not 0 %
    a = figures(kpis.summary(val.aubel, NOV))
    assert a["audience"].value == 1050
    assert a["reach_per_1000"].value == pytest.approx(1200 * 1000 / 12000)  # 100


def test_answers_are_held_against_their_network_s_own_target(val: Val) -> None:
    """The charter may set a target per network: each answer is measured against its own
    network's, the others against the general one (Aubel: 4 h; the three November answers
    are on Facebook and took 3 h, 2 h and 7 h)."""
    from collectivites.models import ModerationCharter

    charter = ModerationCharter.objects.for_collectivite(val.aubel).get()

    def within() -> float | None:
        return kpis.detail(val.aubel, NOV).inbox.within_target_rate

    assert within() == pytest.approx(2 * 100 / 3)
    charter.response_targets = {"facebook": 2}
    charter.save(update_fields=["response_targets"])
    assert within() == pytest.approx(100 / 3)  # only the 2 h answer
    charter.response_targets = {"mastodon": 1}
    charter.save(update_fields=["response_targets"])
    assert within() == pytest.approx(2 * 100 / 3)  # Facebook keeps the general 4 h
    # the same when the durations are stored with the items (read in the database)
    durations = {"i1": 3, "i2": 7, "i3": 2}
    for external_id, hours in durations.items():
        InboxItem.objects.for_collectivite(val.aubel).filter(external_id=external_id).update(
            first_response_business_seconds=hours * 3600
        )
    InboxItem.objects.for_collectivite(val.aubel).filter(external_id="i6").update(
        first_response_business_seconds=6 * 3600
    )
    assert within() == pytest.approx(2 * 100 / 3)
    charter.response_targets = {"facebook": 2, "mastodon": 1}
    charter.save(update_fields=["response_targets"])
    assert within() == pytest.approx(100 / 3)


def test_detail_tables(val: Val) -> None:
    d = kpis.detail(val.interco, NOV)
    by_account = {r.account_id: r for r in d.accounts}
    fb, md = by_account[val.fb.pk], by_account[val.md.pk]
    assert (fb.followers, fb.followers_growth, fb.reach, fb.impressions) == (1050, 50, 1200, 2000)
    assert fb.link_clicks is None and fb.profile_visits is None
    assert (fb.posts, fb.interactions, fb.comments) == (2, 130, 16)
    assert fb.engagement_rate == pytest.approx(130 * 100 / 1900)
    assert (md.reach, md.impressions, md.posts) == (None, None, 1)
    assert [n.network for n in d.networks] == ["facebook", "mastodon"]

    communes = {r.name: r for r in d.communes}
    assert set(communes) == {"Val de Loue", "Aubel", "Brézolles"}
    assert communes["Aubel"].reach_per_1000 == pytest.approx(100.0)
    assert communes["Brézolles"].reach is None
    assert communes["Val de Loue"].followers is None  # the interco has no account itself
    assert communes["Aubel"].inbox_volume == 5 and communes["Aubel"].requests == 4
    assert communes["Aubel"].response_rate == pytest.approx(75.0)
    total = d.communes_total
    assert (total.followers, total.reach, total.posts, total.inbox_volume) == (1280, 1200, 3, 5)
    assert total.reach_per_1000 == pytest.approx(40.0)

    # top posts: by reach V3 (900) then V1 (300); by engagement V1 (30/400 = 7.5 %) before
    # V3 (100/1500 = 6.67 %); V2 has no views, so no rate
    reach = [p.title for p in d.top_posts if p.reason == "reach"]
    assert reach == ["V3", "V1"]
    engagement = [
        (p.title, round(p.engagement_rate, 2)) for p in d.top_posts if p.reason == "engagement"
    ]
    assert engagement == [("V1", 7.5), ("V3", 6.67)]
    comments = [(p.title, p.comments) for p in d.top_posts if p.reason == "comments"]
    assert comments == [("V3", 10), ("V1", 6), ("V2", 3)]

    inbox = d.inbox
    assert (inbox.volume, inbox.requests, inbox.answered, inbox.resolved) == (5, 4, 3, 1)
    assert inbox.resolution_rate == pytest.approx(25.0)
    # p90 of [2, 3, 7]: rank 0.9 * 2 = 1.8 -> 3 + 0.8 * (7 - 3) = 6.2 h
    assert inbox.p90_hours == pytest.approx(6.2)
    # each item is measured against its own commune's charter (Aubel: 4 h); the interco
    # itself has no charter, so its page shows the default target
    assert inbox.target_hours == 24
    assert kpis.detail(val.aubel, NOV).inbox.target_hours == 4
    assert inbox.within_target_rate == pytest.approx(2 * 100 / 3)  # 3 h and 2 h, not 7 h
    assert inbox.mentions == 1
    mix = {m.code: m.count for m in inbox.triage}
    assert (mix["question"], mix["reclamation"], mix["positif"], mix["spam"]) == (3, 1, 1, 0)
    assert [(t.name, t.count) for t in inbox.themes] == [("voirie", 2)]
    assert [(p.week, p.positive) for p in inbox.sentiment if p.positive] == [
        (dt.date(2026, 11, 16), 1)
    ]

    # cadence: fb posted 2 in November (30 days = 30/7 weeks) for 3 a week
    (cadence,) = d.cadence
    assert cadence.per_week == pytest.approx(2 / (30 / 7))
    assert cadence.ratio == pytest.approx(2 / (30 / 7) / 3)
    # accessibility: V3's image has no alt text: 2 of 3 posts
    assert (d.accessibility.posts, d.accessibility.compliant) == (3, 2)
    assert d.accessibility.share == pytest.approx(200 / 3)
    assert d.accessibility.images_without_alt == 1
    # validation on time: V1 yes, V2 no (V3 had no scheduled time)
    assert (d.validation.scheduled, d.validation.on_time) == (2, 1)
    assert d.figure("validated_on_time").value == pytest.approx(50.0)
    (alert,) = d.alerts
    assert (alert.title, alert.reach, alert.impressions) == ("V3", 900, 1500)
    assert d.watch.mentions == 1 and d.watch.spikes is None
    # the site: 40 visits from Facebook in November (the newsletter is not a network), 25 before
    assert (d.web.visits, d.web.previous_visits) == (40, 25)
    assert d.figure("site_visits").change == pytest.approx((40 - 25) / 25)


def test_detail_filtered_by_network(val: Val) -> None:
    d = kpis.detail(val.interco, NOV, network="mastodon")
    assert [a.account_id for a in d.accounts] == [val.md.pk]
    assert d.figure("audience").value == 230
    assert d.figure("reach").value is None
    assert d.inbox.volume == 0  # the inbox items are on Facebook
    d = kpis.detail(val.interco, NOV, account_id=val.fb.pk)
    assert d.figure("posts_published").value == 2


def test_series(val: Val) -> None:
    reach = dict(kpis.series(val.interco, NOV, "reach"))
    assert len(reach) == 30
    assert reach[dt.date(2026, 11, 10)] == 500
    assert reach[dt.date(2026, 11, 11)] is None  # nothing collected: a gap, not 0
    followers = kpis.series(val.interco, NOV, "followers", granularity="month")
    assert followers == [(dt.date(2026, 11, 1), 1280.0)]
    weekly = dict(kpis.series(val.interco, NOV, "posts", granularity="week"))
    # weeks start on Monday: 26 Oct (1 Nov is a Sunday), 2, 9, 16, 23, 30 Nov
    assert weekly == {
        dt.date(2026, 10, 26): 0.0,
        dt.date(2026, 11, 2): 1.0,
        dt.date(2026, 11, 9): 1.0,
        dt.date(2026, 11, 16): 0.0,
        dt.date(2026, 11, 23): 1.0,
        dt.date(2026, 11, 30): 0.0,
    }
    assert dict(kpis.series(val.aubel, NOV, "site_visits", granularity="month")) == {
        dt.date(2026, 11, 1): 40.0
    }
    assert dict(kpis.series(val.brez, NOV, "reach", granularity="month")) == {
        dt.date(2026, 11, 1): None
    }
    with pytest.raises(ValueError):
        kpis.series(val.interco, NOV, "nope")


def test_a_quarter_against_the_previous_quarter(val: Val) -> None:
    f = figures(kpis.summary(val.interco, Period.quarter(2026, 4)))
    # Q4 ends after 1 December's row: fb 5000 + md 230; Q3 ended with fb 950 + md 200
    assert (f["audience"].value, f["audience"].previous) == (5230, 1150)
    assert f["audience_growth"].value == (5000 - 950) + (230 - 200)
    # reach over the quarter: 300 + 200 + 500 + 700 + 9999
    assert f["reach"].value == 11699
    assert f["posts_published"].value == 4
    # median of [6, 3, 2, 7] = (3 + 6) / 2
    assert f["response_time_median"].value == pytest.approx(4.5)
    assert "trimestre précédent" in f["audience"].sentence
