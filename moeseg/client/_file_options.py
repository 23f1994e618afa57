"""How MoEngage reads the CSV of a file-segment operation: one object for every file call."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["FileOptions"]


def _emails(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen(slots=True)
class FileOptions:
    """The CSV's identifier column and whom MoEngage notifies, shared by the file calls of
    :class:`moeseg.Client` and :class:`moeseg.files.FileSegments` (create, add, remove, replace
    users, and the legacy CSV API).

    ``attribute_name`` is the user attribute the CSV's one column holds (e.g. ``"id"``,
    ``"email"``); ``attribute_type`` its type on MoEngage's side; ``emails`` who gets MoEngage's
    processing e-mails.
    """

    attribute_name: str
    attribute_type: str = "string"
    emails: tuple[str, ...] | None = attrs.field(default=None, converter=_emails)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.attribute_name, str) or not self.attribute_name.strip():
            raise ValueError("FileOptions.attribute_name must be a non-empty string")
