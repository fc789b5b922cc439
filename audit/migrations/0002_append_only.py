"""The audit table refuses UPDATE, DELETE and TRUNCATE (audit/db.py): a trigger on
PostgreSQL, its SQLite equivalent for the embedded default."""

from django.db import migrations

from audit import db


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(db.install, db.uninstall)]
