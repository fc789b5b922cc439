from django.db import migrations

# PostgreSQL only (SQLite has no JSON containment to index; its inbox is small).
#
# The inbox filtered by a triage label (« Étiquette », alone or with an account) read, in
# the largest collectivité, either every open item of higher priority than the label's
# (walking inbox_item_open_order and dropping the others) or every item of the account
# (then sorting them): 15,000–50,000 rows for a page of 50, whatever the label. One partial
# index per label, in INBOX_ORDER over the open items carrying it, returns the page's rows
# in order, so the page reads about as many rows as it shows (plus those of the other
# accounts when one is chosen). An item carries one or two labels, so together these
# indexes hold about as many entries as inbox_item_open_order.
#
# The account belongs to one collectivité, so "collectivite = c AND account = a" is as
# selective as the account alone; the planner, multiplying the two, expected ten times too
# few rows and chose to read the whole account and sort it. Functional-dependency
# statistics tell it (the network follows the account too).
#
# The label codes are triage's (monitoring.lexicon.LABEL_NAMES, as of this migration);
# tests/monitoring/test_inbox_search.py checks that every label the inbox filters on has
# its index. The predicate is spelled as Django's JSONField `contains` lookup sends it, so
# the planner matches it.
LABELS = [
    "urgent",
    "insulte",
    "question",
    "reclamation",
    "negatif",
    "positif",
    "spam",
    "hors_sujet",
]
OPEN = "('nouveau', 'assigne', 'en_attente')"
FORWARD = [
    *(
        f"""CREATE INDEX IF NOT EXISTS inbox_item_open_{code} ON monitoring_inboxitem
            (collectivite_id, priority DESC, created_at, id)
            WHERE status IN {OPEN} AND labels @> '[{{"code": "{code}"}}]'::jsonb"""
        for code in LABELS
    ),
    """CREATE STATISTICS IF NOT EXISTS inbox_item_account_dependencies (dependencies)
        ON collectivite_id, account_id, network FROM monitoring_inboxitem""",
    "ANALYZE monitoring_inboxitem",
]
BACKWARD = [
    "DROP STATISTICS IF EXISTS inbox_item_account_dependencies",
    *(f"DROP INDEX IF EXISTS inbox_item_open_{code}" for code in LABELS),
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0010_inbox_arrival_index"),
    ]

    operations = [
        migrations.RunPython(_run(FORWARD), _run(BACKWARD)),
    ]
