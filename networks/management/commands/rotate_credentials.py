"""Re-encrypt every stored credential with the newest key of PARVIS_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from audit.models import Action
from audit.services import record
from collectivites.models import SocialAccount
from networks import crypto
from networks.models import MastodonApp


class Command(BaseCommand):
    help = (
        "Re-encrypt social accounts' credentials and Mastodon app registrations with the "
        "first key of PARVIS_ENCRYPTION_KEYS."
    )

    def handle(self, *args, **options) -> None:
        done = 0
        with transaction.atomic(), connection.cursor() as cursor:
            for table in (SocialAccount._meta.db_table, MastodonApp._meta.db_table):
                cursor.execute(f"SELECT id, credentials FROM {table} WHERE credentials <> ''")  # noqa: S608
                for pk, token in cursor.fetchall():
                    cursor.execute(
                        f"UPDATE {table} SET credentials = %s WHERE id = %s",  # noqa: S608
                        [crypto.rotate(token), pk],
                    )
                    if table == SocialAccount._meta.db_table:
                        done += 1
            # Platform-level (the key is the platform's): one event, no collectivité.
            record(
                collectivite=None,
                actor=None,
                action=Action.CREDENTIALS_ROTATED,
                after={"accounts": done},
                actor_label="manage.py rotate_credentials",
            )
        self.stdout.write(self.style.SUCCESS(f"{done} compte(s) rechiffré(s)."))
