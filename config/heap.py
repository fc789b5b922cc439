"""The web process's heap once started.

A full garbage collection walks every object the process holds. In a web worker most of
them are Django's, the apps' and the libraries' start-up objects, alive until the worker
exits: on the intercommunalité's reporting pages, a full collection took ~80 ms about once
every fifteen requests (``docs/benchmarks.md``, sixth pass). Frozen once loaded, they are
left out of every collection; what requests allocate is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Import what every request needs (the URLconf, and the views it imports), collect
    what start-up left behind, then move every live object to the permanent generation
    (``gc.freeze``). Called once per web worker by ``config.wsgi`` and ``config.asgi``."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 -- the property imports every view module
    gc.collect()
    gc.freeze()
