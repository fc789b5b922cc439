"""Reporting tests compute every figure afresh: the cache of closed periods is off unless a
test turns it on (``test_cache.py``), so no test reads another's figures."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_kpi_cache(settings: Any) -> None:
    settings.PARVIS_REPORTING_CACHE_SECONDS = 0
