from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Who may act: two-factor authentication, re-authentication, API keys and tokens."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "access"
    verbose_name = "Accès"

    def ready(self) -> None:
        from access import signals  # noqa: F401
