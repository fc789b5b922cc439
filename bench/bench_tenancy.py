"""What fail-closed tenancy costs.

Subject: the scoped queryset (``SocialAccount.objects.for_collectivite(c)``) and the
middleware's member resolution. Baseline: the same query through Django's plain
manager (``_base_manager.filter(collectivite=c)``), measured in the same run.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from django.db import transaction

ROWS = 500
REPEAT = 200


def _compare(
    subject: Callable[[], object], baseline: Callable[[], object], repeat: int = REPEAT
) -> tuple[float, float]:
    """Median time per call of each, the two interleaved so that neither runs warmer."""
    samples: dict[int, list[float]] = {0: [], 1: []}
    subject(), baseline()  # warm caches
    for _ in range(7):
        gc.collect()
        for i, fn in enumerate((subject, baseline)):
            start = time.perf_counter()
            for _ in range(repeat):
                fn()
            samples[i].append((time.perf_counter() - start) / repeat)
    return statistics.median(samples[0]), statistics.median(samples[1])


def main() -> None:
    from collectivites.models import Collectivite, Membership, SocialAccount
    from collectivites.selectors import member_context
    from tests import factories

    with transaction.atomic():
        c = factories.CollectiviteFactory(slug="bench-tenancy")
        factories.CollectiviteFactory(slug="bench-other")
        SocialAccount.objects.bulk_create(
            SocialAccount(collectivite=c, network="sandbox", handle=f"@b{i}", display_name=f"B{i}")
            for i in range(ROWS)
        )
        user = factories.UserFactory(email="bench@parvis.example")
        Membership.objects.create(collectivite=c, user=user, role="admin")

    scoped, plain = _compare(
        lambda: list(SocialAccount.objects.for_collectivite(c)),
        lambda: list(SocialAccount._base_manager.filter(collectivite=c)),
        20,
    )
    print(
        f"list {ROWS} accounts  scoped {scoped * 1e3:.2f} ms  plain {plain * 1e3:.2f} ms  "
        f"ratio {scoped / plain:.2f}"
    )

    resolve, baseline = _compare(
        lambda: member_context(user=user, slug="bench-tenancy"),
        lambda: (
            Collectivite.objects.filter(slug="bench-tenancy").first(),
            list(Membership._base_manager.filter(collectivite=c, user=user).values_list("role")),
        ),
    )
    print(
        f"resolve member  scoped {resolve * 1e6:.0f} µs  plain {baseline * 1e6:.0f} µs  "
        f"ratio {resolve / baseline:.2f}"
    )
