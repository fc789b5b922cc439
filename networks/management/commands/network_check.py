"""Read-only calls to a real network with an account's stored credentials, for an
administrator who has real keys: what works, what does not, and why."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collectivites.connections import account_ref
from collectivites.models import SocialAccount
from networks.base import NetworkError
from networks.registry import get_adapter


class Command(BaseCommand):
    help = "Vérifie un compte social sur son réseau (appels en lecture seule)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account_id", type=int, help="identifiant (id) du SocialAccount")

    def handle(self, *args: Any, **options: Any) -> None:
        # Platform staff's command line: deliberately across collectivités.
        account = (
            SocialAccount.objects.dangerously_unscoped()
            .select_related("collectivite")
            .filter(pk=options["account_id"])
            .first()
        )
        if account is None:
            raise CommandError(f"Aucun compte social n°{options['account_id']}.")
        self.stdout.write(
            f"{account.display_name} — {account.get_network_display()} — {account.handle} "
            f"({account.collectivite.name}), état : {account.get_status_display()}"
        )
        adapter = get_adapter(account.network)
        ref = account_ref(account)
        try:
            results = adapter.check(ref)
        except NetworkError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc.message}") from exc
        failures = 0
        for what, ok, detail in results:
            mark = self.style.SUCCESS("ok  ") if ok else self.style.ERROR("ÉCHEC")
            self.stdout.write(f"  {mark} {what} — {detail}")
            failures += not ok
        if ref.credentials_changed:
            self.stdout.write("  (les jetons ont été rafraîchis pendant la vérification)")
        if failures:
            raise CommandError(f"{failures} vérification(s) en échec.")
