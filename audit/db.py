"""The database half of "append-only": triggers that refuse UPDATE, DELETE and TRUNCATE
on the audit table, and the one controlled way through them (``purge_window``).

PostgreSQL: one trigger function, ``parvis_audit_append_only()``, fires before every
UPDATE or DELETE row and before TRUNCATE. It lets DELETE and TRUNCATE through only when
the transaction has set ``parvis.audit_purge`` to ``on`` (``SET LOCAL``, so it ends with the
transaction, and a rolled-back savepoint undoes it). UPDATE is refused always.

SQLite (the embedded default) has no session variables: the DELETE trigger looks for a
row in ``audit_purge_window``, a one-column table the purge fills and empties inside its
own transaction (SQLite has a single writer at a time, so no one else sees it open).

This is a wall against Parvis's own code and its users (a bug, a forged request, an
injected statement), not against the database's owner, who can drop a trigger:
production should run Parvis with a role that does not own the table (docs/security.md).

Note for later migrations of this app: on SQLite, an ALTER that rebuilds
``audit_auditevent`` drops its triggers; such a migration must call ``install`` again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction

TABLE = "audit_auditevent"

_POSTGRES_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION parvis_audit_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'TRUNCATE')
           AND coalesce(current_setting('parvis.audit_purge', true), '') = 'on' THEN
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'parvis: the audit trail is append-only (% refused on %)',
            TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"""CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION parvis_audit_append_only()""",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION parvis_audit_append_only()""",
]
_POSTGRES_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    "DROP FUNCTION IF EXISTS parvis_audit_append_only()",
]
_SQLITE_INSTALL = [
    "CREATE TABLE IF NOT EXISTS audit_purge_window (opened integer NOT NULL)",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
    f"""CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'parvis: the audit trail is append-only (UPDATE refused)');
        END""",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
    f"""CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        WHEN NOT EXISTS (SELECT 1 FROM audit_purge_window)
        BEGIN SELECT RAISE(ABORT, 'parvis: the audit trail is append-only (DELETE refused)');
        END""",  # noqa: S608 (constant names, no input)
]
_SQLITE_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
    "DROP TABLE IF EXISTS audit_purge_window",
]


def _run(schema_editor: Any, statements: list[str]) -> None:
    for sql in statements:
        schema_editor.execute(sql, params=None)


def install(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, _POSTGRES_INSTALL)
    elif vendor == "sqlite":
        _run(schema_editor, _SQLITE_INSTALL)
    else:
        raise RuntimeError(f"No append-only triggers for {vendor}")


def uninstall(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    _run(schema_editor, _POSTGRES_UNINSTALL if vendor == "postgresql" else _SQLITE_UNINSTALL)


@contextmanager
def purge_window(using: str = "default") -> Iterator[None]:
    """Inside this block (one transaction), the triggers let DELETE and TRUNCATE through.
    Only ``audit.services.purge_expired`` (and the test suite's flush) open it."""
    connection = connections[using]
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute("SELECT set_config('parvis.audit_purge', 'on', true)")
            else:
                cursor.execute("INSERT INTO audit_purge_window (opened) VALUES (1)")
        yield
        # Closed again before the transaction goes on (it may be a savepoint inside a
        # longer one); on an exception the rollback closes it.
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute("SELECT set_config('parvis.audit_purge', 'off', true)")
            else:
                cursor.execute("DELETE FROM audit_purge_window")
