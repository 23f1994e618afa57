"""Workspace credentials: the headers of each API family, the legacy signature, and the
redactor that keeps every secret out of errors, logs and reprs."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

#: Which headers a request carries besides ``Authorization``.
Family = Literal["v3", "v2", "legacy", "cohort"]


def legacy_signature(app_id: str, seg_name: str, api_secret: str) -> str:
    """The legacy CSV API's signature: hex sha256 of ``appId|segName|apiSecret``."""
    return hashlib.sha256(f"{app_id}|{seg_name}|{api_secret}".encode()).hexdigest()


class Redactor:
    """Replaces known secrets with ``***`` in text copied from elsewhere (a response body)."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # Longest first, so that "Basic <token>" is replaced before "<token>" alone.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} secrets>"


class Credentials:
    """Workspace credentials and the ready-made headers of each API family.

    The API key and the legacy API secret are kept here only; ``repr`` shows the workspace id.
    """

    __slots__ = (
        "_headers",
        "_legacy_secret",
        "app_key",
        "db_name",
        "legacy_app_id",
        "redact",
        "workspace_id",
    )

    def __init__(
        self,
        workspace_id: str,
        api_key: str,
        *,
        app_key: str,
        db_name: str | None,
        legacy_secret: str | None,
        user_agent: str,
        legacy_app_id: str,
    ) -> None:
        self.workspace_id = workspace_id
        self.legacy_app_id = legacy_app_id
        self.app_key = app_key
        self.db_name = db_name
        self._legacy_secret = legacy_secret
        token = base64.b64encode(f"{workspace_id}:{api_key}".encode()).decode("ascii")
        auth = f"Basic {token}"
        common = {"Authorization": auth, "Accept": "application/json", "User-Agent": user_agent}
        self._headers: dict[Family, dict[str, str]] = {
            "v3": {**common, "MOE-APPKEY": app_key},
            "v2": {**common, "MOE-DBNAME": db_name or ""},
            "legacy": dict(common),
            # Cohort Sync: MOE-APPKEY is the workspace id, as the Basic-auth user must match it.
            "cohort": {
                **common,
                "MOE-APPKEY": workspace_id,
                "Content-Type": "application/json",
            },
        }
        secrets = [api_key, token, auth]
        if legacy_secret:
            secrets.append(legacy_secret)
        self.redact = Redactor(tuple(secrets))

    def headers(self, family: Family) -> dict[str, str]:
        """The headers of one API family (a shared dict: do not mutate)."""
        return self._headers[family]

    def sign(self, seg_name: str) -> str | None:
        """The legacy signature for ``seg_name``, or ``None`` without a configured secret."""
        if self._legacy_secret is None:
            return None
        return legacy_signature(self.legacy_app_id, seg_name, self._legacy_secret)

    def __repr__(self) -> str:
        return f"<Credentials workspace_id={self.workspace_id!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("moeseg credentials cannot be pickled")
