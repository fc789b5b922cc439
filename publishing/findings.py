"""What the composer, the API and the services see of a variant: its length as its
network counts it and the findings of ``publishing.checks`` (network limits, editorial
line, accessibility, pre-election guard), built from the variant's rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectivites.connections import account_ref
from collectivites.models import EditorialLine, ElectionPeriod
from networks.registry import get_adapter
from publishing import selectors
from publishing.checks import (
    EditorialRules,
    Finding,
    MediaInfo,
    VariantDraft,
    check_variant,
    outgoing_text,
)
from publishing.election import ElectionContext, Period, needs_election_acknowledgement
from publishing.models import Variant


@dataclass(frozen=True)
class Shown:
    level: str  # "error" | "warning" | "info"
    message: str
    code: str = ""


@dataclass
class VariantFindings:
    count: int
    max_chars: int
    items: list[Shown] = field(default_factory=list)
    needs_election_ack: bool = False

    @property
    def errors(self) -> list[Shown]:
        return [f for f in self.items if f.level == "error"]

    @property
    def blocking(self) -> bool:
        return bool(self.errors)


def _candidates(periods: list[ElectionPeriod]) -> list[str]:
    names: list[str] = []
    for period in periods:
        names += EditorialLine.split_list(period.candidates)
    return names


def findings_for_variant(variant: Variant, *, saved: bool = True) -> VariantFindings:
    """``saved=False`` for a text being typed (the variant is not stored, or not yet
    with this text): media and the publication are read only when they exist."""
    account = variant.account
    collectivite = account.collectivite
    limits = get_adapter(account.network).limits_for(account_ref(account))
    media = (
        tuple(
            MediaInfo.from_asset(a) for a in variant.media.all().order_by("variantmedia__position")
        )
        if variant.pk
        else ()
    )
    draft = VariantDraft(
        text=variant.text,
        network=account.network,
        media=media,
        link=variant.link or None,
        scheduled_at=variant.scheduled_at,
    )
    line = EditorialLine.objects.for_collectivite(collectivite).filter(account=account).first()
    rules = None
    if line is not None:
        rules = EditorialRules.from_line(
            line,
            posts_already_this_week=selectors.posts_in_week(
                collectivite=collectivite,
                account_id=account.pk,
                around=variant.scheduled_at,
                excluding=variant.pk,
            )
            if variant.scheduled_at
            else 0,
        )
    publication = variant.publication if variant.publication_id else None
    periods = list(ElectionPeriod.objects.for_collectivite(collectivite))
    election = ElectionContext(
        periods=[Period.from_model(p) for p in periods],
        candidate_names=_candidates(periods),
        sponsored=bool(publication and publication.sponsored),
        theme=publication.campaign if publication else "",
        history=selectors.theme_history(collectivite=collectivite) if periods else {},
        time_zone=collectivite.time_zone,
    )
    found: list[Finding] = check_variant(
        draft,
        limits=limits,
        rules=rules,
        election=election,
        site_url=collectivite.website_url,
        utm_campaign=(publication.campaign or None) if publication else None,
    )
    return VariantFindings(
        count=limits.count(outgoing_text(draft)),
        max_chars=limits.max_chars,
        items=[Shown(f.level, f.message, f.code) for f in found],
        needs_election_ack=needs_election_acknowledgement(found),
    )
