"""Membership sync: make a segment's members equal a list, sending only what changed.

Route (recorded, else one list call), diff against the last snapshot (on disk, in a worker
thread), plan, send the deltas by Cohort Sync or as files, then commit the list as the new
snapshot; docs/cohorts.md ("Membership sync") says why each step is safe to kill and rerun.
"""

from __future__ import annotations

import csv
import inspect
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import anyio.to_thread
import attrs

from .._cohorts import (
    DEFAULT_STATE_DIR,
    Cohort,
    MemberRecord,
    MembershipDiff,
    MemberState,
    ReplaceChoice,
    Route,
    SyncPlan,
    SyncResult,
    UidFile,
    derive_cohort_id,
    measure_action,
    membership_diff,
    plan_sync,
    read_uid_csv,
    union_uid_files,
)
from .._exceptions import ConfigurationError, MoesegError
from .._telemetry import observed
from ..governor import GroupView
from ._cohort_calls import _ARRIVAL_MARGIN, CohortCalls, Progress
from ._file_options import FileOptions

__all__ = ["MembersCalls", "Source", "Uploader"]

logger = logging.getLogger("moeseg")

#: How often a sync in progress touches its uncertain file, in seconds.
_HEARTBEAT = 1.0

#: A CSV path (its ``uid`` column, or its only column) or any iterable of uids.
Source: TypeAlias = "str | os.PathLike[str] | Iterable[str]"
#: Turns a CSV file of uids (header ``uid``) into a URL MoEngage can fetch.
Uploader: TypeAlias = Callable[[Path], "str | Awaitable[str]"]


class _Job(Protocol):
    """A file job's handle (:class:`moeseg.files.FileSegmentHandle`)."""

    async def wait(self, timeout: float | None = None) -> Any: ...  # noqa: ASYNC109


class _FileJobs(Protocol):
    """What the sync needs of :class:`moeseg.files.FileSegments` (moeseg.files imports the
    client, so the client names it only by shape)."""

    @property
    def client(self) -> Any: ...

    async def add_users(
        self, name: str, file_url: str, file: FileOptions | None = None, *,
        users: int | None = None, segment_id: str | None = None,
    ) -> _Job: ...  # fmt: skip

    async def remove_users(
        self, name: str, file_url: str, file: FileOptions | None = None, *,
        users: int | None = None, segment_id: str | None = None,
    ) -> _Job: ...  # fmt: skip

    async def replace_users(
        self, name: str, file_url: str, file: FileOptions | None = None, *,
        users: int | None = None, segment_id: str | None = None,
    ) -> _Job: ...  # fmt: skip


async def _route(
    client: CohortCalls, segment: str, record: MemberRecord | None
) -> tuple[Route, str | None]:
    if record is not None:
        return record.route, record.segment_id
    found = [s for s in await client.list_segments(segment) if s.name == segment]
    if not found:
        return "cohort", None  # Cohort Sync creates it on the first add
    seg = found[0]
    if (seg.source or "").upper() == "COHORT_SYNC":
        return "cohort", seg.id
    if (seg.type or "").upper() == "FILE":
        return "file", seg.id
    raise ConfigurationError(
        f"{segment!r} is a {seg.type or 'filter'} segment (source {seg.source or '?'}): its "
        "members come from its definition, so no list can be synced into it"
    )


async def _quota_state(client: CohortCalls) -> tuple[dict[str, GroupView], float]:
    """The governor's quota state now, so the plan's ETA counts what others spent (idle quota
    for a governor without a store)."""
    store = getattr(client._sender.governor, "store", None)
    if store is None:
        return {}, 0.0
    policy = client._sender.policy
    views = await store.view([policy.usable_group(g) for g in policy.groups])
    return dict(views), store.clock.now()


async def _after_interrupted_run(unsure: Path, request_timeout: float) -> None:
    """Wait until no request of an interrupted sync (in any process) can still arrive.

    A running sync touches its uncertain file every ``_HEARTBEAT`` seconds; a request it sent
    may arrive up to its timeout plus a margin later. A rerun with a changed list must not send
    an opposite action before then.
    """
    try:
        touched = (await anyio.to_thread.run_sync(unsure.stat)).st_mtime
    except FileNotFoundError:
        return
    wait = touched + _HEARTBEAT + request_timeout + _ARRIVAL_MARGIN - time.time()
    if wait > 0:
        logger.info("%s: an interrupted sync may still have requests in flight; waiting %.1fs",
                    unsure.name, wait)  # fmt: skip
        await anyio.sleep(wait)


async def _heartbeat(unsure: Path) -> None:
    """Touch the uncertain file while this sync sends (see ``_after_interrupted_run``)."""
    while True:
        await anyio.to_thread.run_sync(os.utime, unsure)
        await anyio.sleep(_HEARTBEAT)


def _mark_uncertain(state: MemberState, segment: str, diff: MembershipDiff) -> None:
    path = state.uncertain_path(segment)
    parts = [path, diff.adds.path] + ([diff.removes.path] if diff.removes is not None else [])
    union_uid_files(path, parts)


_FIRST_SYNC_NOTE = (
    "first sync: no snapshot, so members added by other means are unknown and cannot be "
    "removed (only the uids of an interrupted earlier sync are)"
)


def _plan(
    client: CohortCalls,
    route: Route,
    cohort: Cohort | None,
    diff: MembershipDiff,
    replace: ReplaceChoice,
    views: dict[str, GroupView],
    now: float,
) -> SyncPlan:
    policy = client._sender.policy
    # A first sync after an interrupted one knows some removes: it sends them, and still says
    # that other members are unknown.
    removes = diff.removes if diff.removes is not None and diff.removes.count else None
    if diff.previous is not None:
        removes = diff.removes
    if cohort is None:
        count = removes.count if removes is not None else None
        plan = plan_sync(
            "file", diff.adds.count, count, policy=policy, replace=replace, views=views, now=now
        )
    else:
        adds = measure_action(cohort, "add_members", diff.adds)
        size = measure_action(cohort, "remove_members", removes) if removes is not None else None
        plan = plan_sync("cohort", adds, size, policy=policy, views=views, now=now)
    if diff.previous is None and removes is not None:
        plan = attrs.evolve(plan, notes=(*plan.notes, _FIRST_SYNC_NOTE))
    return plan


async def _by_cohort(
    client: CohortCalls, cohort: Cohort, diff: MembershipDiff, on_progress: Progress | None
) -> tuple[int, int, int]:
    # The deltas are read in a worker thread; a 1 % change of 1,000,000 uids is 10,000 strings.
    adds = await anyio.to_thread.run_sync(list, diff.adds)
    removes = await anyio.to_thread.run_sync(list, diff.removes or ())
    results: list[SyncResult] = []
    failures: list[MoesegError] = []

    async def send(add: list[str], remove: list[str]) -> None:
        try:
            results.append(
                await client.sync_cohort(
                    cohort.name,
                    add=iter(add),  # checked by the diff already: no second pass
                    remove=iter(remove),
                    cohort_id=cohort.cohort_id,
                    partner=cohort.partner,
                    on_progress=on_progress,
                )
            )
        except MoesegError as exc:  # raised as itself below, not in an exception group
            failures.append(exc)

    # A diff's adds and removes share no uid, so neither waits for the other: both at once.
    async with anyio.create_task_group() as tg:
        if adds:
            tg.start_soon(send, adds, [])
        if removes:
            tg.start_soon(send, [], removes)
    if failures:
        raise failures[0]
    return (
        sum(r.added for r in results),
        sum(r.removed for r in results),
        sum(r.requests for r in results),
    )


async def _by_file(
    segment: str,
    segment_id: str | None,
    plan: SyncPlan,
    diff: MembershipDiff,
    uploader: Uploader,
    jobs: _FileJobs,
    on_progress: Progress | None,
) -> tuple[int, int, int]:
    """Send the plan's files through ``jobs``; return once every job's callback reported
    success (else raise the first failure or expiry, after every job settled)."""
    by_operation = {
        "file_add": ("add_users", diff.adds),
        "file_remove": ("remove_users", diff.removes),
        "file_replace": ("replace_users", diff.desired),
    }
    file = FileOptions("uid", "string")
    counts = dict.fromkeys(by_operation, 0)
    sent: list[tuple[str, int, _Job]] = []
    requests = 0
    workdir = diff.desired.path.parent
    for step in plan.steps:
        name, uids = by_operation[step.operation]
        if uids is None or step.uids == 0:
            continue
        per_file = math.ceil(uids.count / step.requests)
        parts = await anyio.to_thread.run_sync(_write_csvs, uids, per_file, workdir, step.operation)
        for path, count in parts:
            url = uploader(path)
            if inspect.isawaitable(url):
                url = await url
            if not isinstance(url, str) or not url:
                raise ConfigurationError(f"the uploader returned {url!r} for {path}, not a URL")
            # Replace spends users only for the new members (the planner's pricing).
            users = diff.adds.count if step.operation == "file_replace" else count
            # the receiver of ``jobs`` supplies the callback URL
            job = await getattr(jobs, name)(segment, url, file, users=users, segment_id=segment_id)
            sent.append((step.operation, count, job))
            counts[step.operation] += count
            requests += 1
    failures: list[MoesegError] = []

    async def settle(operation: str, count: int, job: _Job) -> None:
        try:
            await job.wait()
        except MoesegError as exc:  # FileSegmentFailed, CallbackTimeout: raised below
            failures.append(exc)
        else:
            _report(on_progress, operation, count)

    async with anyio.create_task_group() as tg:
        for operation, count, job in sent:
            tg.start_soon(settle, operation, count, job)
    if failures:  # an expiry first: its job may still be applied, unlike a reported failure
        raise next((f for f in failures if isinstance(f, TimeoutError)), failures[0])
    if counts["file_replace"]:
        return diff.adds.count, 0, requests
    return counts["file_add"], counts["file_remove"], requests


def _all_reported(failure: Exception) -> bool:
    """Whether ``failure`` is a failure a file job's callback reported (FileSegmentFailed,
    which ``_by_file`` raises only once every job has settled and none expired)."""
    return isinstance(failure, MoesegError) and getattr(failure, "outcome", None) is not None


def _report(on_progress: Progress | None, operation: str, count: int) -> None:
    if on_progress is not None:
        on_progress("remove_members" if operation == "file_remove" else "add_members", count)


def _write_csvs(uids: UidFile, per_file: int, directory: Path, stem: str) -> list[tuple[Path, int]]:
    """``uids`` as CSV files (header ``uid``) of at most ``per_file`` rows each."""
    out: list[tuple[Path, int]] = []
    it: Iterator[str] = iter(uids)
    while True:
        path = directory / f"{stem}-{len(out)}.csv"
        count = 0
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["uid"])
            for uid in it:
                writer.writerow([uid])
                count += 1
                if count >= per_file:
                    break
        if count == 0:
            path.unlink()
            return out
        out.append((path, count))


class MembersCalls(CohortCalls):
    """The membership sync of :class:`moeseg.Client` (over Cohort Sync and file segments)."""

    __slots__ = ()

    @observed("sync_members")
    async def sync_members(
        self,
        segment: str,
        source: Source,
        *,
        state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
        uploader: Uploader | None = None,
        files: _FileJobs | None = None,
        dry_run: bool = False,
        replace: ReplaceChoice = "auto",
        column: str | None = None,
        cohort_id: str | None = None,
        on_progress: Progress | None = None,
    ) -> SyncResult:
        """Make the members of ``segment`` equal ``source``, sending only what changed.

        ``source``: a CSV path (its ``uid`` column, or ``column``, or its only column) or an
        iterable of uids, diffed on disk against the last snapshot in ``state_dir``. Cohort Sync
        segments (and missing ones: the first add creates it) go by Cohort Sync; file segments
        by add/remove/replace files, which need an ``uploader`` (``path -> URL``, sync or async)
        and ``files``, a :class:`moeseg.files.FileSegments` whose receiver takes each job's
        callback, else :class:`moeseg.ConfigurationError` before anything is sent; filter
        segments are refused. ``replace="auto"`` picks the cheaper in quota; ``dry_run=True``
        only plans; ``cohort_id`` is the key of a Cohort Sync segment another tool created
        (default: the recorded one, else derived from the name).

        The snapshot changes only after every delta was accepted, and for file segments only
        after every job's callback reported success: a failed job raises
        :class:`moeseg.files.FileSegmentFailed`, one past ``files``' callback timeout
        :class:`moeseg.files.CallbackTimeout`, with nothing committed, so a sync killed or failed
        converges on the next run (see the guide's "Membership sync").
        """
        state = MemberState(state_dir, self._sender.credentials.workspace_id)
        record = await anyio.to_thread.run_sync(state.record, segment)
        if files is not None:
            other = getattr(getattr(files.client, "_sender", None), "credentials", None)
            if getattr(other, "workspace_id", None) != self._sender.credentials.workspace_id:
                raise ConfigurationError("files= sends through a client of another workspace")
        route, segment_id = await _route(self, segment, record)
        if route == "file" and not dry_run and (uploader is None or files is None):
            raise ConfigurationError(
                f"{segment!r} is a file segment: its deltas go as CSV files, so give an uploader "
                "(a callable that turns a CSV path into a URL MoEngage can fetch; CLI: --uploader "
                "CMD) and files=moeseg.files.FileSegments(client, receiver), whose receiver takes "
                "MoEngage's callbacks (CLI: --callback-url or --callback-port)"
            )
        if cohort_id is None and record is not None:
            cohort_id = record.cohort_id
        # Only a Cohort Sync segment's name must follow Cohort Sync's rules.
        cohort = (
            Cohort(segment, cohort_id or derive_cohort_id(segment)) if route == "cohort" else None
        )
        uids = (
            read_uid_csv(source, column=column) if isinstance(source, str | os.PathLike) else source
        )
        with ExitStack() as stack:
            diff = await anyio.to_thread.run_sync(
                lambda: stack.enter_context(
                    membership_diff(
                        uids,
                        state.snapshot_path(segment),
                        uncertain=state.uncertain_path(segment),
                        workdir=state.workdir(),
                    )
                )
            )
            views, now = await _quota_state(self)
            plan = await anyio.to_thread.run_sync(
                _plan, self, route, cohort, diff, replace, views, now
            )
            notes = plan.notes
            removes = diff.removes.count if diff.removes is not None else 0
            if dry_run:
                return SyncResult(
                    segment, route, plan.method, diff.adds.count, removes, 0, plan, True
                )
            done = (0, 0, 0)
            if diff.adds.count or removes:
                unsure = state.uncertain_path(segment)
                await _after_interrupted_run(unsure, self._opts.timeout)
                await anyio.to_thread.run_sync(_mark_uncertain, state, segment, diff)
                failure: Exception | None = None
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_heartbeat, unsure)
                    try:
                        if cohort is not None:
                            done = await _by_cohort(self, cohort, diff, on_progress)
                        else:
                            assert uploader is not None
                            assert files is not None
                            done = await _by_file(
                                segment, segment_id, plan, diff, uploader, files, on_progress
                            )
                    except Exception as exc:  # raised below as itself, not in an exception group
                        failure = exc
                    tg.cancel_scope.cancel()
                if failure is not None:
                    if _all_reported(failure):
                        # Every request was answered and every job has ended: nothing of
                        # this sync can still arrive, so a rerun need not wait for it.
                        await anyio.to_thread.run_sync(os.utime, unsure, (0, 0))
                    raise failure
            new = MemberRecord(
                self._sender.credentials.workspace_id,
                segment,
                route,
                cohort.cohort_id if cohort is not None else None,
                segment_id,
                diff.desired.count,
            )

            def commit() -> None:
                diff.commit_snapshot(state.snapshot_path(segment))
                state.uncertain_path(segment).unlink(missing_ok=True)
                state.save(new)

            await anyio.to_thread.run_sync(commit)
            # On the first sync, a replace leaves no unknown member: its note no longer applies.
            if plan.method == "replace":
                notes = tuple(n for n in notes if not n.startswith("first sync"))
            added, removed = (diff.adds.count, removes) if plan.method != "replace" else done[:2]
            return SyncResult(
                segment,
                route,
                plan.method,
                added,
                removed,
                done[2],
                plan,
                committed=True,
                notes=notes,
            )
