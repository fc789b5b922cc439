"""A JSON value stored encrypted (Fernet). Never rendered: ``editable=False`` at use sites,
and ``__repr__`` of the decrypted value is the caller's responsibility to keep out of logs."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from networks import crypto


class EncryptedJSONField(models.TextField):
    description = "JSON encrypted at rest with Fernet"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value in (None, ""):
            return {}
        return json.loads(crypto.decrypt(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(crypto.decrypt(value)) if value else {}
        return value if value is not None else {}

    def get_prep_value(self, value: Any) -> str:
        if value in (None, {}, ""):
            return ""
        return crypto.encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        # dumpdata and serializers never see the secrets.
        return ""
