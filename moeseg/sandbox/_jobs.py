"""Background file jobs: download the file, count its users, charge them, update the segment,
record the job, then call back."""

from __future__ import annotations

import attrs
import httpx

from ._answers import Call
from ._config import WorkspaceCredentials
from ._files import FileRejected, count_csv, fetch_file, post_json
from ._log import FileJobRecord
from ._state import SandboxState
from ._store import StoredSegment

__all__ = ["schedule"]


@attrs.frozen(slots=True)
class _Job:
    route: str
    workspace: WorkspaceCredentials
    segment_id: str
    file_url: str
    callback_url: str | None
    attribute_name: str
    request_id: str
    arrival: float


def schedule(
    sb: SandboxState,
    call: Call,
    seg: StoredSegment,
    file_url: str,
    callback_url: str | None,
    request_id: str | None = None,
) -> None:
    """Start processing ``file_url`` for ``seg`` in the sandbox's task group."""
    assert call.workspace is not None
    assert sb.task_group is not None
    job = _Job(
        route=call.route,
        workspace=call.workspace,
        segment_id=seg.id,
        file_url=file_url,
        callback_url=callback_url or None,
        attribute_name=seg.attribute_name or "",
        request_id=request_id or sb.request_id(),
        arrival=call.arrival,
    )
    sb.pending += 1
    sb.task_group.start_soon(_run, sb, job)


async def _run(sb: SandboxState, job: _Job) -> None:
    try:
        seg = sb.stores[job.workspace.workspace_id].get(job.segment_id)
        assert seg is not None
        status, extra = await _process(sb, job, seg)
        if job.route == "legacy_csv":
            body: dict[str, object] = {
                "status": status,
                **extra,
                "request_id": job.request_id,
                "segment_name": seg.name,
            }
        else:
            body = {
                "db_name": job.workspace.db_name,
                "segment_name": seg.name,
                "request_id": job.request_id,
                **extra,
                "status": status,
            }
        record = FileJobRecord(
            job.route,
            job.workspace.workspace_id,
            seg.id,
            seg.name,
            job.request_id,
            status,
            body,
            job.callback_url,
            None,
        )
        # Recorded before the callback: whoever it wakes already finds the job here.
        index = len(sb.jobs)
        sb.jobs.append(record)
        if job.callback_url:
            try:
                delivered = await post_json(
                    job.callback_url,
                    body,
                    transport=sb.config.fetch_transport,
                    timeout=sb.config.fetch_timeout,
                )
                sb.jobs[index] = attrs.evolve(record, callback_status=delivered)
            except (httpx.HTTPError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                sb.jobs[index] = attrs.evolve(record, callback_error=error)
    finally:
        sb.pending -= 1


async def _process(
    sb: SandboxState, job: _Job, seg: StoredSegment
) -> tuple[int, dict[str, object]]:
    creating = job.route in ("file_create", "legacy_csv")
    suffix = " Created custom_segment contains 0 users." if job.route == "file_create" else ""
    try:
        raw = await fetch_file(
            job.file_url,
            max_bytes=sb.config.max_file_bytes,
            transport=sb.config.fetch_transport,
            timeout=sb.config.fetch_timeout,
        )
        counted = count_csv(raw, job.attribute_name)
    except FileRejected as exc:
        return exc.status, {"error_message": exc.message + suffix}
    values = set(counted.values)
    if job.route == "file_replace":
        weight = len(values - seg.users)
    elif job.route == "legacy_csv":
        weight = 0
    else:
        weight = len(values)
    ws = job.workspace.workspace_id
    if weight and sb.quota.admit(ws, "file_users", job.arrival, weight) is not None:
        message = "File segment users limit breached. Please retry after some time."
        return 400, {"error_message": message + suffix}
    if creating or job.route == "file_replace":
        user_count = len(values)
        seg.users = values
    elif job.route == "file_add":
        user_count = len(values)
        seg.users |= values
    else:
        user_count = len(values & seg.users)
        seg.users -= values
    seg.updated = sb.epoch()
    return 201, {
        "values_found": counted.found,
        "values_processed": len(values),
        "user_count": user_count,
    }
