"""``POST /v1/integrations/cohortsync``: MoEngage's Cohort Sync API, as the sandbox plays it.

Authentication (Basic auth + ``MOE-APPKEY``, then the 403 of a suspended account), the quota
(``cohort_sync``, 300 a minute) and faults are the pipeline's; this handler checks the body
and applies it. Choices the reference leaves open, made here and documented in docs/cohorts.md:

- **Size**: a body over 128,000 bytes is a 413 (the strict reading of "128KB").
- **Segment**: the first ``add_members`` of an unknown ``cohort_id`` creates the segment, listed
  with ``type: "FILE"`` (a uid list, like a file segment) and ``source: "COHORT_SYNC"``. The
  ``cohort_id`` is the key; a new ``cohort_name`` for a known id renames the segment. A
  ``remove_members`` of an unknown cohort is accepted and changes nothing.
- **Other segments**: a name that belongs to a segment Cohort Sync did not create (file,
  filter, dashboard) is refused with 400 ``InvalidAttributeError`` on ``cohort_name``.
- **Users**: only known uids match. Every uid is known unless ``SandboxConfig.known_uids``
  lists them; unknown uids are accepted and ignored, as MoEngage does not create users.
- Requests are applied at once (MoEngage says "processed soon"); the answer is 200 either way.
"""

from __future__ import annotations

from typing import Any, Final, TypeGuard

from .._cohorts import ACTIONS, FORBIDDEN_NAME_CHARACTERS, MAX_BODY_BYTES
from ._answers import Answer, Call, error, json_object
from ._bodies import COHORT
from ._state import SandboxState

__all__ = ["cohort_sync"]

#: The ``source`` a Cohort Sync segment is listed with (sandbox's choice, see above).
SOURCE: Final = "COHORT_SYNC"


def cohort_sync(sb: SandboxState, call: Call) -> Answer:
    """Check the body, then add or remove the members of the cohort it names."""
    ctype = call.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return error(call, 415, COHORT.MEDIA_TYPE, "unsupported_media_type", ctype)
    if len(call.body) > MAX_BODY_BYTES:
        return error(call, 413, COHORT.TOO_LARGE, "payload_too_large", f"{len(call.body)} bytes")
    body = json_object(call.body, utf8=True)
    if body is None:
        return error(call, 400, COHORT.MALFORMED, "malformed_json")
    checked = _check(call, body)
    if isinstance(checked, Answer):
        return checked
    action, name, cohort_id, description, uids = checked
    store = sb.store(call.workspace)
    seg = next((s for s in store if s.kind == "cohort" and s.cohort_id == cohort_id), None)
    holder = store.by_name(name)
    if holder is not None and holder is not seg:
        message = f"{name} names a segment Cohort Sync did not create; it cannot be updated"
        return _invalid(call, "cohort_name", message, "not_a_cohort")
    if seg is None:
        if action == "remove_members":
            return _success("nothing_to_remove")
        fields = {"description": description or "", "cohort_id": cohort_id, "source": SOURCE}
        seg = sb.new_segment(store, name, "cohort", **fields)
        cause = "created"
    else:
        if seg.archived:
            return _invalid(call, "cohort_id", f"cohort {cohort_id} is archived", "archived")
        seg.name = name
        if description is not None:
            seg.description = description
        seg.updated = sb.epoch()
        cause = "accepted"
    known = sb.config.known_uids
    if action == "add_members":
        seg.users.update(u for u in uids if known is None or u in known)
    else:
        seg.users.difference_update(uids)
    return _success(cause)


def _success(cause: str) -> Answer:
    return Answer(200, {"status": "success", "message": COHORT.SUCCESS}, cause)


def _invalid(call: Call, attribute: str, message: str, cause: str = "invalid") -> Answer:
    what = COHORT.invalid(message)
    return error(call, 400, what, cause, attribute, attribute=attribute)


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _check(
    call: Call, body: dict[str, Any]
) -> tuple[str, str, str, str | None, list[str]] | Answer:
    """The body's fields, or the first 400 they earn (in the order of the reference)."""
    if missing := _missing(call, body, ("action", "partner", "parameters")):
        return missing
    action, params = body["action"], body["parameters"]
    if action not in ACTIONS:
        return _invalid(call, "action", "action must be add_members or remove_members")
    if not _text(body["partner"]):
        return _invalid(call, "partner", "partner must be a non-empty string")
    if not isinstance(params, dict):
        return _invalid(call, "parameters", "parameters must be an object")
    if missing := _missing(call, params, ("cohort_name", "cohort_id", "members")):
        return missing
    name, cohort_id, members = params["cohort_name"], params["cohort_id"], params["members"]
    if not _text(name):
        return _invalid(call, "cohort_name", "cohort_name must be a non-empty string")
    bad = next((ch for ch in name if ch in FORBIDDEN_NAME_CHARACTERS), None)
    if bad is not None:
        return _invalid(call, "cohort_name", f"cohort_name must not contain {bad!r}")
    if not _text(cohort_id):
        return _invalid(call, "cohort_id", "cohort_id must be a non-empty string")
    description = params.get("cohort_description")
    if description is not None and not isinstance(description, str):
        return _invalid(call, "cohort_description", "cohort_description must be a string")
    if not isinstance(members, list):
        return _invalid(call, "members", "members must be a list of {uid} objects")
    given = [m.get("uid") for m in members if isinstance(m, dict)]
    uids = [uid for uid in given if _text(uid)]
    if len(uids) < len(members):
        return _invalid(call, "members", "every member must be {uid: non-empty string}")
    return action, name, cohort_id, description, uids


def _missing(call: Call, where: dict[str, Any], fields: tuple[str, ...]) -> Answer | None:
    field = next((f for f in fields if f not in where), None)
    if field is None:
        return None
    return error(call, 400, COHORT.missing(field), "missing_attribute", field, attribute=field)
