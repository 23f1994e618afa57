"""Before anything is sent: validate every input and settle duplicates inside the batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._exceptions import SegmentValidationError, ValidationIssue
from ..segments import SegmentDefinition, fingerprint, from_payload
from ._outcomes import Outcome, OutcomeKind

__all__ = ["BatchItem", "PreparedBatch", "prepare_batch"]


@attrs.frozen(slots=True)
class BatchItem:
    """A valid item of a batch that is first with its definition and its name."""

    index: int
    name: str
    definition: SegmentDefinition
    fingerprint: str


@attrs.frozen(slots=True)
class PreparedBatch:
    """``items`` to send, and the ``rejected`` outcomes (invalid, duplicate, in-batch name
    conflict) decided locally, each without spending quota."""

    total: int
    items: tuple[BatchItem, ...]
    rejected: tuple[Outcome, ...]


def prepare_batch(definitions: Iterable[SegmentDefinition | Mapping[str, Any]]) -> PreparedBatch:
    """Validate every input and drop in-batch duplicates (by fingerprint), sending nothing.

    A second item reusing an earlier item's name with another definition is a conflict: MoEngage
    would answer 409 for it, so it is reported without spending quota.
    """
    items: list[BatchItem] = []
    rejected: list[Outcome] = []
    first_by_fp: dict[str, int] = {}
    first_by_name: dict[str, int] = {}
    total = 0
    for index, raw in enumerate(definitions):
        total += 1
        name = _name_of(raw)
        try:
            defn = _definition(raw)
        except SegmentValidationError as exc:
            rejected.append(Outcome(index=index, name=name, kind=OutcomeKind.INVALID, error=exc))
            continue
        fp = fingerprint(defn)
        if fp in first_by_fp:
            kind, dup = OutcomeKind.DUPLICATE, first_by_fp[fp]
            rejected.append(Outcome(index, name, kind, duplicate_of=dup, fingerprint=fp))
            continue
        if defn.name in first_by_name:
            rule = f"already used by item {first_by_name[defn.name]} with a different definition"
            error = SegmentValidationError([ValidationIssue("name", rule)])
            rejected.append(Outcome(index, name, OutcomeKind.CONFLICT, error=error, fingerprint=fp))
            continue
        first_by_fp[fp] = index
        first_by_name[defn.name] = index
        items.append(BatchItem(index=index, name=defn.name, definition=defn, fingerprint=fp))
    return PreparedBatch(total=total, items=tuple(items), rejected=tuple(rejected))


def _definition(raw: object) -> SegmentDefinition:
    if isinstance(raw, SegmentDefinition):  # validated when it was built (frozen)
        return raw
    if isinstance(raw, Mapping):
        return from_payload(raw)
    what = f"expected a SegmentDefinition or a mapping, got {type(raw).__name__}"
    raise SegmentValidationError([ValidationIssue("", what)])


def _name_of(raw: object) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else getattr(raw, "name", None)
    return name if isinstance(name, str) else ""
