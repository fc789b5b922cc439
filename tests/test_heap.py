"""The web worker's start-up heap is frozen once the URLconf is loaded (``config.heap``)."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from config.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting everything, as before


def test_the_heap_is_frozen(unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    freeze_startup_heap()
    assert gc.get_freeze_count() > 0


def test_the_wsgi_entry_freezes_the_heap_of_its_process() -> None:
    """Importing the WSGI entry, as gunicorn does in each worker, freezes that process's
    heap after loading Django and the URLconf."""
    code = (
        "import gc, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "import config.wsgi; "
        "print(gc.get_freeze_count() > 1000, 'reporting.views' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split()[-2:] == ["True", "True"]
