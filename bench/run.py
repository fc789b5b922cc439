"""Run every benchmark under bench/ (files named bench_*.py, each with a ``main()``).

Each benchmark measures its subject and a baseline in the same run and prints the
ratio, so the figure means the same on any machine. They use a throw-away SQLite
database unless DATABASE_URL is set.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("PARVIS_VAR_DIR", tempfile.mkdtemp(prefix="parvis-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    only = sys.argv[1:]
    for path in sorted((ROOT / "bench").glob("bench_*.py")):
        if only and path.stem not in only:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[path.stem] = module  # dataclasses need their module registered
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        print(f"== {path.stem}", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
