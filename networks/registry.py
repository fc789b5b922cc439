"""The networks Parvis speaks to. Adapters register here (networks issue)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Network(models.TextChoices):
    SANDBOX = "sandbox", _("Bac à sable")
    FACEBOOK = "facebook", _("Facebook")
    INSTAGRAM = "instagram", _("Instagram")
    X = "x", _("X")
    LINKEDIN = "linkedin", _("LinkedIn")
    MASTODON = "mastodon", _("Mastodon")
    BLUESKY = "bluesky", _("Bluesky")
