"""A small in-memory model of MoEngage's segment store and a model applier of plans.

The server keeps names unique among active and archived segments (an archived name stays
reserved), definitions unique among active ones, refuses updates of segments the API did not
create, and counts active segments against a limit. The applier carries a plan's steps out in
order as the real applier will, including the rule that a create refused for a name the active
list did not show unarchives that name and updates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moeseg._workspace import (
    ActiveSegment,
    DesiredSet,
    FetchedDefinition,
    Plan,
    ServerFacts,
    StateStore,
    row_after,
)
from moeseg.segments import fingerprint


class ModelConflict(Exception):
    """409: the name (or the definition) is taken."""


@dataclass
class ModelSegment:
    id: str
    name: str
    payload: dict[str, Any]
    source: str = "API"
    archived: bool = False


@dataclass
class ModelServer:
    segments: dict[str, ModelSegment] = field(default_factory=dict)
    limit: int = 1000
    requests: list[str] = field(default_factory=list)
    _next: int = 0

    def add(self, name: str, payload: dict[str, Any], **kw: Any) -> str:
        self._next += 1
        sid = f"id{self._next:04d}"
        self.segments[sid] = ModelSegment(sid, name, payload, **kw)
        return sid

    def _check(self, name: str, payload: dict[str, Any], sid: str | None) -> None:
        fp = fingerprint(payload)
        for s in self.segments.values():
            if s.id == sid:
                continue
            if s.name == name:
                raise ModelConflict(f"name {name!r}")
            if not s.archived and fingerprint(s.payload) == fp:
                raise ModelConflict("definition")

    def active(self) -> list[ModelSegment]:
        return [s for s in self.segments.values() if not s.archived]

    def create(self, payload: dict[str, Any]) -> str:
        self.requests.append("create")
        self._check(payload["name"], payload, None)
        assert len(self.active()) < self.limit, "active segment limit"
        return self.add(payload["name"], payload)

    def update(self, sid: str, payload: dict[str, Any]) -> None:
        self.requests.append("update")
        seg = self.segments[sid]
        assert seg.source == "API", "updated a read-only segment"
        assert not seg.archived, "updated an archived segment"
        self._check(payload["name"], payload, sid)
        seg.name, seg.payload = payload["name"], payload

    def archive(self, sid: str) -> None:
        self.segments[sid].archived = True

    def unarchive(self, sid: str) -> None:
        assert len(self.active()) < self.limit, "active segment limit"
        self.segments[sid].archived = False

    def archived_id(self, name: str) -> str:
        return next(s.id for s in self.segments.values() if s.name == name and s.archived)

    def facts(self, now: float, *, fetched: bool = True) -> ServerFacts:
        active = tuple(
            ActiveSegment(s.id, s.name, "ELASTIC_SEARCH", s.source) for s in self.active()
        )
        defs = (
            {s.id: FetchedDefinition(s.id, s.payload, now) for s in self.active()}
            if fetched
            else {}
        )
        return ServerFacts(active, defs)


def apply_plan(
    plan: Plan, desired: DesiredSet, server: ModelServer, state: StateStore, now: float
) -> None:
    """Carry ``plan`` out against ``server``, recording each step in ``state``."""
    plan.check()
    items = desired.by_key()
    names = {k: i.name for k, i in items.items()}
    for step in plan.steps:
        rows = state.snapshot().rows
        previous = rows.get(step.key)
        sid = step.segment_id
        sent = None
        if step.kind in ("unchanged", "read_only"):
            pass
        elif step.kind == "archive":
            assert sid is not None
            server.archive(sid)
        else:
            ids = {k: r.segment_id for k, r in rows.items() if r.archived_at is None}
            sent = items[step.key].resolve(ids, names)
            if step.kind == "unarchive":
                sid = sid or server.archived_id(step.name)
                server.unarchive(sid)
                if step.update:
                    server.update(sid, sent)
                else:
                    sent = None
            elif step.kind == "create":
                try:
                    sid = server.create(sent)
                except ModelConflict:
                    # a name the active list did not show: archived, so unarchive and update
                    assert step.on_name_conflict == "unarchive"
                    assert step.name not in {s.name for s in server.active()}
                    sid = server.archived_id(step.name)
                    server.unarchive(sid)
                    server.update(sid, sent)
            else:
                assert sid is not None
                server.update(sid, sent)
        state.put(row_after(step, now, segment_id=sid, payload=sent, previous=previous))
        if step.adopt_from is not None:
            state.forget(step.adopt_from)


def payload(
    name: str, value: str, refs: tuple[str, ...] = (), *, key: str | None = None
) -> dict[str, Any]:
    """A create payload selecting ``city is value``, and members of ``refs`` (by key)."""
    filters: list[dict[str, Any]] = [
        {
            "filter_type": "user_attributes",
            "name": "city",
            "data_type": "string",
            "operator": "is",
            "value": value,
        }
    ]
    filters += [{"filter_type": "custom_segments", "segment_key": r} for r in refs]
    out: dict[str, Any] = {
        "name": name,
        "included_filters": {"filter_operator": "and", "filters": filters},
    }
    if key is not None:
        out["key"] = key
    return out
