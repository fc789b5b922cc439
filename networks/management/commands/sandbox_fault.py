"""Make the sandbox network fail on purpose, to see Parvis cope (demo, system tests)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collectivites.models import SocialAccount
from networks.adapters.sandbox import clear_faults, inject_fault
from networks.models import SandboxFault
from networks.registry import Network


class Command(BaseCommand):
    help = "Injecte une panne dans le bac à sable pour un compte (ou --clear pour les retirer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account_id", type=int)
        parser.add_argument("error", nargs="?", choices=SandboxFault.Error.values)
        parser.add_argument("--operation", default="", help="publish, fetch_inbox, reply…")
        parser.add_argument("--next", type=int, default=1, help="nombre d'appels en échec")
        parser.add_argument("--probability", type=float, help="probabilité d'échec par appel")
        parser.add_argument(
            "--lost-answer", action="store_true", help="réussit puis perd la réponse"
        )
        parser.add_argument("--clear", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        account = (
            SocialAccount.objects.dangerously_unscoped()
            .filter(pk=options["account_id"], network=Network.SANDBOX)
            .first()
        )
        if account is None:
            raise CommandError("Aucun compte du bac à sable avec cet identifiant.")
        if options["clear"]:
            clear_faults(account.external_id)
            self.stdout.write(self.style.SUCCESS("Pannes retirées."))
            return
        if not options["error"]:
            raise CommandError("Précisez l'erreur : " + ", ".join(SandboxFault.Error.values))
        inject_fault(
            account.external_id,
            options["error"],
            operation=options["operation"],
            remaining=options["next"],
            probability=options["probability"],
            lost_answer=options["lost_answer"],
        )
        self.stdout.write(self.style.SUCCESS(f"Panne « {options['error']} » injectée."))
