"""The v2 routes (file segments, archive, unarchive) and the legacy ``POST /csv_segment``."""

from __future__ import annotations

from typing import Any

from ._answers import Answer, Call, accepted, active_limited, error, json_object
from ._bodies import V2
from ._filters import invalid_name
from ._jobs import schedule
from ._state import SandboxState, StoredSegment

__all__ = ["archive", "file_create", "file_update", "legacy_csv"]

_LEGACY_TYPES = frozenset({"string", "numeric", "geo_point", "date"})


def file_create(sb: SandboxState, call: Call) -> Answer:
    """``POST /v2/custom-segments/file-segment``: created at once, filled in the background."""
    required = ("name", "attribute_name", "attribute_type", "file_url", "expiry_time")
    data = _fields(call, required)
    if isinstance(data, Answer):
        return data
    name = data["name"]
    if invalid_name(name):
        what = V2.invalid("Segment name must not contain HTML characters/only whitespaces")
        return error(call, 400, what, "invalid_name")
    if sb.store(call.workspace).by_name(name) is not None:
        return error(call, 409, V2.name_exists(name), "name_conflict")
    if limited := active_limited(sb, call):
        return limited
    seg = _new_file_segment(sb, call, name, data["attribute_name"])
    schedule(sb, call, seg, data["file_url"], data.get("callback_url"))
    return accepted("File-segment creation request accepted", seg, "accepted")


def file_update(sb: SandboxState, call: Call) -> Answer:
    """``PUT /v2/custom-segments/file-segment/{add-users,remove-users,replace}``."""
    data = _fields(call, ("attribute_name", "attribute_type", "file_url"))
    if isinstance(data, Answer):
        return data
    seg = _target(sb, call, data)
    if isinstance(seg, Answer):
        return seg
    if seg.kind != "file":
        what = V2.invalid(f"Segment is not a file segment: {seg.name}")
        return error(call, 400, what, "not_a_file_segment")
    if seg.archived:
        what = V2.invalid(f"Segment is archived: {seg.name}")
        return error(call, 400, what, "archived")
    schedule(sb, call, seg, data["file_url"], data.get("callback_url"))
    verb = call.route.removeprefix("file_")
    return accepted(f"File-segment user-{verb} request accepted", seg, "accepted")


def archive(sb: SandboxState, call: Call) -> Answer:
    """``PATCH /v2/custom-segments/{archive,unarchive}`` (unarchiving counts toward the
    active-segment limit)."""
    data = json_object(call.body)
    if data is None:
        return error(call, 400, V2.INVALID_FORMAT, "invalid_format")
    seg = _target(sb, call, data)
    if isinstance(seg, Answer):
        return seg
    archived = call.route == "archive"
    if not archived and seg.archived and (limited := active_limited(sb, call)):
        return limited
    seg.archived = archived
    verb = call.route + "d"
    return accepted(f"Successfully {verb} the custom segment", seg, verb, 200)


def legacy_csv(sb: SandboxState, call: Call) -> Answer:
    """``POST /csv_segment`` (its body was checked and parsed by authentication)."""
    data = call.data
    assert data is not None
    name = data["segName"]
    if data["attributeType"] not in _LEGACY_TYPES:
        return error(call, 400, ("", "Bad Value for attributeType"), "invalid_format")
    if invalid_name(name):
        return error(call, 400, ("", "Bad Value for segName"), "invalid_name")
    request_id = sb.request_id()
    if sb.store(call.workspace).by_name(name) is not None:
        what = ("", "duplicate request")
        return error(call, 409, what, "name_conflict", request_id=request_id, segment_name=name)
    if limited := active_limited(sb, call):
        return limited
    seg = _new_file_segment(sb, call, name, data["attribute"])
    schedule(sb, call, seg, data["csvUrl"], data["callback"], request_id)
    return Answer(200, {"status": 200, "request_id": request_id, "segment_name": name}, "accepted")


def _fields(call: Call, required: tuple[str, ...]) -> dict[str, Any] | Answer:
    data = json_object(call.body)
    if data is None:
        return error(call, 400, V2.INVALID_FORMAT, "invalid_format")
    for field in required:
        value = data.get(field)
        if field == "expiry_time":
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        else:
            ok = isinstance(value, str) and bool(value.strip())
        if not ok:
            return error(call, 400, V2.missing(field), "invalid_format", field)
    if "attribute_type" in required and data["attribute_type"] not in ("string", "double"):
        what = V2.invalid("attribute_type must be one of: string, double")
        return error(call, 400, what, "invalid_format", "attribute_type")
    callback = data.get("callback_url")
    if callback is not None and not isinstance(callback, str):
        what = V2.invalid("callback_url must be a URL")
        return error(call, 400, what, "invalid_format", "callback_url")
    emails = data.get("emails")
    if emails is not None and not (
        isinstance(emails, list) and all(isinstance(e, str) for e in emails)
    ):
        what = V2.invalid("emails must be a list of email ids")
        return error(call, 400, what, "invalid_format", "emails")
    return data


def _target(sb: SandboxState, call: Call, data: dict[str, Any]) -> StoredSegment | Answer:
    """The segment a v2 body names by ``cs_id`` (first) or ``name``."""
    cs_id, name = data.get("cs_id"), data.get("name")
    if not (isinstance(cs_id, str) and cs_id) and not (isinstance(name, str) and name):
        return error(call, 400, V2.missing("name"), "invalid_format", "name")
    store = sb.store(call.workspace)
    if isinstance(cs_id, str) and cs_id:
        seg, key = store.get(cs_id), cs_id
    else:
        seg, key = store.by_name(str(name)), str(name)
    if seg is None:
        return error(call, 404, V2.not_found(key), "not_found")
    return seg


def _new_file_segment(sb: SandboxState, call: Call, name: str, attribute: str) -> StoredSegment:
    description = f"Users from a file of {attribute} values"
    store = sb.store(call.workspace)
    return sb.new_segment(store, name, "file", description=description, attribute_name=attribute)
