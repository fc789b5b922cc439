"""What the composer shows next to a variant's text: its length as its network counts it
and the findings of the checks (blocking errors, warnings, reminders)."""

from __future__ import annotations

from dataclasses import dataclass, field

from networks.base import PostContent
from networks.registry import get_adapter
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

    @property
    def errors(self) -> list[Shown]:
        return [f for f in self.items if f.level == "error"]

    @property
    def blocking(self) -> bool:
        return bool(self.errors)


def findings_for_variant(variant: Variant, *, saved: bool = True) -> VariantFindings:
    from collectivites.connections import account_ref

    limits = get_adapter(variant.account.network).limits_for(account_ref(variant.account))
    content = PostContent(text=variant.text, idempotency_key="check", link=variant.link or None)
    items = [Shown("error", message, "limits") for message in limits.problems(content)]
    return VariantFindings(
        count=limits.count(variant.text), max_chars=limits.max_chars, items=items
    )
