"""The bridge to the models: parse and validate a request's definition, fingerprint it.

The models are the one authority on what a valid definition is (``from_payload`` validates
as it builds), on when two definitions are the same (``fingerprint``) and on how one reads
(``describe``, the ``description`` field of responses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .. import Limits, SegmentDefinition, describe, fingerprint, from_payload

__all__ = ["Checked", "check_definition"]


@attrs.frozen(slots=True)
class Checked:
    """A definition that passed validation: its fingerprint and one-line description."""

    definition: SegmentDefinition
    fingerprint: str
    description: str


def check_definition(payload: Mapping[str, Any], limits: Limits = Limits()) -> Checked:
    """Parse and validate ``payload``; raises ``SegmentValidationError`` listing every issue.

    The sandbox answers 413 for its own configured query limits after this check, so it passes
    ``limits`` well above them: the models' caps only bound the work of reading hostile input.
    """
    definition = from_payload(payload, limits=limits)
    return Checked(definition, fingerprint(definition), describe(definition))
