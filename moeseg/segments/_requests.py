"""What moeseg sends: definitions and the file-segment bodies, each checked when it is built,
so nothing invalid can be sent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

from .._exceptions import SegmentValidationError, ValidationIssue
from ._limits import DEFAULT_LIMITS, Limits
from ._models import FilterGroup
from ._validation import check_tree

__all__ = [
    "ArchiveRequest",
    "FileSegmentRequest",
    "LegacyCsvRequest",
    "SegmentDefinition",
    "SegmentUpdate",
    "validate",
]

INT32_MAX = 2**31 - 1
#: the v2 ``attribute_type`` enum
ATTRIBUTE_TYPES = ("string", "double")
# An address with one @, no spaces, a dot in the domain: what "format: email" can check locally.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _raise(issues: list[ValidationIssue]) -> None:
    if issues:
        raise SegmentValidationError(issues)


@attrs.frozen(slots=True)
class SegmentDefinition:
    """A filter segment to create: name and filter groups.

    Building one validates the whole tree and raises :class:`moeseg.SegmentValidationError`
    listing every broken rule with its path. ``limits`` are moeseg's assumed size limits
    (:class:`moeseg.Limits`); they are not sent.
    """

    name: str
    included_filters: FilterGroup
    excluded_filters: FilterGroup | None = None
    # not part of the value (equal definitions are equal whatever they were checked against)
    limits: Limits = attrs.field(default=DEFAULT_LIMITS, kw_only=True, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        validate(self)


@attrs.frozen(slots=True)
class SegmentUpdate:
    """The body of an update (PATCH): the name is optional, ``updated_by`` an optional email.

    Validated at construction like :class:`SegmentDefinition`.
    """

    included_filters: FilterGroup
    name: str | None = None
    excluded_filters: FilterGroup | None = None
    updated_by: str | None = None
    # not part of the value (equal definitions are equal whatever they were checked against)
    limits: Limits = attrs.field(default=DEFAULT_LIMITS, kw_only=True, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        validate(self)


def validate(defn: SegmentDefinition | SegmentUpdate, *, limits: Limits | None = None) -> None:
    """Check ``defn`` against every documented rule and ``limits`` (default: its own).

    Raises :class:`moeseg.SegmentValidationError` carrying all issues (not just the first), each
    with the path of the offending field.
    """
    lim = defn.limits if limits is None else limits
    named = isinstance(defn, SegmentDefinition)
    issues = check_tree(
        defn.name, defn.included_filters, defn.excluded_filters, lim, name_required=named
    )
    if isinstance(defn, SegmentUpdate) and defn.updated_by is not None:
        issues += _email("updated_by", defn.updated_by)
    _raise(issues)


def _url(field: str, value: object) -> list[ValidationIssue]:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return [ValidationIssue(field, f"must be an absolute http(s) URL, got {value!r}")]
    return []


def _email(field: str, value: object) -> list[ValidationIssue]:
    if isinstance(value, str) and _EMAIL.match(value):
        return []
    return [ValidationIssue(field, f"must be an email address, got {value!r}")]


@attrs.frozen(slots=True)
class FileSegmentRequest:
    """Body of the v2 file-segment calls (create, add-users, remove-users, replace).

    ``cs_id`` identifies the segment for add/remove/replace; ``expiry_time`` only on create.
    """

    name: str
    file_url: str
    callback_url: str
    attribute_name: str | None = None
    attribute_type: str | None = None
    cs_id: str | None = None
    emails: tuple[str, ...] | None = None
    expiry_time: int | None = None

    def __attrs_post_init__(self) -> None:
        issues = _url("file_url", self.file_url) + _url("callback_url", self.callback_url)
        if self.attribute_type is not None and self.attribute_type not in ATTRIBUTE_TYPES:
            rule = f"must be 'string' or 'double', got {self.attribute_type!r}"
            issues.append(ValidationIssue("attribute_type", rule))
        issues += [i for n, v in enumerate(self.emails or ()) for i in _email(f"emails[{n}]", v)]
        e = self.expiry_time
        if e is not None and (
            not isinstance(e, int) or isinstance(e, bool) or not 1 <= e <= INT32_MAX
        ):
            rule = f"must be a positive number of days that fits in int32, got {e!r}"
            issues.append(ValidationIssue("expiry_time", rule))
        _raise(issues)


@attrs.frozen(slots=True)
class ArchiveRequest:
    """Body of v2 archive / unarchive: the segment by ``name`` and/or ``cs_id``."""

    name: str | None = None
    cs_id: str | None = None


@attrs.frozen(slots=True)
class LegacyCsvRequest:
    """Body of the deprecated ``POST /csv_segment`` (camelCase on the wire).

    ``signature`` is sha256(``appId|segName|apiSecret``) in hex; the secret itself is never held.
    """

    app_id: str | None = None
    seg_name: str | None = None
    attribute: str | None = None
    attribute_type: str | None = None
    csv_url: str | None = None
    callback: str | None = None
    signature: str | None = attrs.field(default=None, repr=False)
    emails: tuple[str, ...] | None = None
