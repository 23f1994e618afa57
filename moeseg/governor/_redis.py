"""The Redis store: admissions shared by processes on many machines, decided in Lua on the server.

Key layout, per workspace ``ws`` and quota group ``g`` (``{ws}`` is a cluster hash tag: every
key of a workspace lives in one slot, so one script may touch them all)::

    {prefix}:{ws}:{g}:u   sorted set: lease ids of weight 1, scored by the lease's end bound
    {prefix}:{ws}:{g}:w   sorted set: lease ids of weight > 1, scored the same way
    {prefix}:{ws}:{g}:h   hash: lease id -> "weight admitted expires ended" ("-" while in flight)
    {prefix}:{ws}:{g}:p   string: the group's pause, until this server time

One entry per request (a 2,000,000-user upload is one member). The score is the pessimistic end
of the lease: its bound (``expires``) while in flight, its end once ended; an entry occupies a
window of ``W`` seconds at ``now`` exactly when ``score + W > now``, so the usual check is one
``ZCOUNT`` per window. Entries that occupy no window are deleted by an admission in the group
that renews its keys' expiry (about once every max(1 s, longest window / 64) while it is busy), and
every key expires soon after its newest entry can occupy nothing (at most a second
plus two steps of max(1 s, longest window / 64) later): memory stays bounded, and an idle
workspace leaves no key behind.

Time is the Redis server's (``TIME`` inside each script), so machines with skewed clocks agree.
The caller's times (the governor's clock) are converted by offset: a script receives durations
relative to the caller's ``now`` and returns times relative to the server's, which the store
adds back to the caller's ``now``. For ``end`` and ``pause``, which carry no ``now``, the store
uses the caller's clock as learned at the last ``admit``/``snapshot`` (wall-clock time before
any): any real-time clock works, the governor's default loop clock included.

Lease ends are buffered. ``end`` sends nothing by itself: the end rides with this store's next
call (admit, snapshot or flush: the script applies the ends first, at the times given), or is
sent on its own ``end_delay`` seconds (0.05 by default) after it was buffered if no call came
sooner, at once when 64 are waiting, and by ``aclose``. So a process that admits and ends
requests in a stream pays ONE round trip per admission *with* its end. The Store protocol allows
it: an end only ever makes a slot free sooner, so recording it late is conservative -- until it
is sent, other processes count the lease as in flight (occupying up to its bound); no window can
be exceeded by it. What other processes see is delayed by at most ``end_delay`` plus a round
trip; the end is then recorded at the time it happened, not when it was sent, so the slot frees
exactly as if it had been sent at once. This process's own next admission or snapshot always
sees it. A refund of a lease whose end is buffered does nothing (the lease ended). A call that
fails or is cancelled keeps the ends it carried for the next one (sending an end twice changes
nothing). A process that dies with ends buffered (without ``aclose``) loses them, as a crash
does: those leases free at their bound. ``end_delay=0`` sends each end at once (two round trips
per admission and end).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.to_thread

from .._exceptions import ConfigurationError
from ._policy import QuotaGroup
from ._store import Admission, Denied, EntryState, GroupState

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["RedisStore"]

_PRELUDE = r"""
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local EPS = 1e-6
local function fmt(x) return string.format('%.17g', x) end
local function parse(v)
  local w, a, e, d = string.match(v, '^(%S+) (%S+) (%S+) (%S+)$')
  return w, a, e, d
end
-- Record a lease's end at min(at, bound) if it is still in flight (unknown, ended: left alone).
local function finish(u, wz, h, lease, at)
  local v = redis.call('HGET', h, lease)
  if v then
    local w, a, e, d = parse(v)
    if d == '-' then
      local stop = math.min(at, tonumber(e))
      redis.call('HSET', h, lease, w .. ' ' .. a .. ' ' .. e .. ' ' .. fmt(stop))
      redis.call('ZADD', w == '1' and u or wz, fmt(stop), lease)
    end
  end
end
-- Ends buffered by the caller, applied before anything else: from ARGV[ab] on, per lease:
-- lease id, end (relative to the caller's now), n, then n indexes (0-based) of groups whose
-- u, w, h keys are KEYS[kb + 3 * index ...].
local function apply_ends(kb, ab)
  local i = ab
  while i <= #ARGV do
    local lease, at, n = ARGV[i], now + tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    for j = 1, n do
      local k = kb + 3 * tonumber(ARGV[i + 2 + j])
      finish(KEYS[k], KEYS[k + 1], KEYS[k + 2], lease, at)
    end
    i = i + 3 + n
  end
end
"""

# KEYS: u, w, h, p per group of the demand, then u, w, h per group of the buffered ends.
# ARGV: lease_id, expires_in, the demand as one string of numbers (per group: weight, reserve,
# number of windows, (limit, seconds) per window), the number of groups, then buffered ends.
_ADMIT = (
    _PRELUDE
    + r"""
local lease = ARGV[1]
local expires = now + tonumber(ARGV[2])
local spec = {}
for x in string.gmatch(ARGV[3], '%S+') do spec[#spec + 1] = tonumber(x) end
local ng = tonumber(ARGV[4])
apply_ends(4 * ng + 1, 5)
local groups = {}
local i = 1
for g = 1, ng do
  local k = (g - 1) * 4
  local grp = {u = KEYS[k + 1], w = KEYS[k + 2], h = KEYS[k + 3], p = KEYS[k + 4]}
  grp.weight = spec[i]; grp.need = spec[i] + spec[i + 1]
  local nw = spec[i + 2]; i = i + 3
  grp.windows = {}
  for j = 1, nw do grp.windows[j] = {spec[i], spec[i + 1]}; i = i + 2 end
  grp.longest = grp.windows[nw][2]
  groups[g] = grp
end

-- Drop entries that occupy no window of their group any more (memory only: every count below
-- looks at live scores, so stale entries change no decision; done when renewing key TTLs).
local function prune(grp)
  for _, z in ipairs(grp.heavy and {grp.u, grp.w} or {grp.u}) do
    local old = redis.call('ZRANGEBYSCORE', z, '-inf', fmt(now - grp.longest), 'WITHSCORES')
    for j = 1, #old, 2 do
      if tonumber(old[j + 1]) + grp.longest <= now then
        redis.call('ZREM', z, old[j]); redis.call('HDEL', grp.h, old[j])
      end
    end
  end
end

local function paused_until(grp)
  local p = redis.call('GET', grp.p)
  if p then return tonumber(p) end
  return -math.huge
end

-- Quick, conservative check (entries within EPS of leaving still count).
local function has_room(grp)
  if paused_until(grp) > now then return false end
  local heavy = {}
  if grp.heavy then
    local hs = redis.call('ZRANGEBYSCORE', grp.w, '(' .. fmt(now - grp.longest - EPS), '+inf',
      'WITHSCORES')
    for j = 1, #hs, 2 do
      local w = parse(redis.call('HGET', grp.h, hs[j]))
      heavy[#heavy + 1] = {tonumber(hs[j + 1]), tonumber(w)}
    end
  end
  for _, win in ipairs(grp.windows) do
    local lo = now - win[2] - EPS
    local used = redis.call('ZCOUNT', grp.u, '(' .. fmt(lo), '+inf')
    for _, x in ipairs(heavy) do if x[1] > lo then used = used + x[2] end end
    if used + grp.need > win[1] then return false end
  end
  return true
end

-- The reference decision (decide() in _store.py), exactly.
local function entries(grp)
  local out = {}
  for _, z in ipairs({grp.u, grp.w}) do
    local ms = redis.call('ZRANGEBYSCORE', z, '(' .. fmt(now - grp.longest - EPS), '+inf')
    for _, m in ipairs(ms) do
      local w, a, e, d = parse(redis.call('HGET', grp.h, m))
      out[#out + 1] = {weight = tonumber(w), expires = tonumber(e),
        ended = (d ~= '-') and tonumber(d) or nil}
    end
  end
  return out
end

local function fit_time(es, limit, seconds, need, optimistic)
  if need > limit then return math.huge end
  local total, rel = 0, {}
  for _, e in ipairs(es) do
    local stop = e.ended
    if stop == nil and e.expires <= now then stop = e.expires end
    if stop == nil or stop + seconds > now then
      total = total + e.weight
      local r
      if stop ~= nil then r = stop + seconds
      elseif optimistic then r = now + seconds
      else r = e.expires + seconds end
      rel[#rel + 1] = {r, e.weight}
    end
  end
  local excess = total + need - limit
  if excess <= 0 then return now end
  table.sort(rel, function(a, b) return a[1] < b[1] end)
  for _, x in ipairs(rel) do
    excess = excess - x[2]
    if excess <= 0 then return x[1] end
  end
  return math.huge
end

local function decide()
  local fits, earliest, worst, worst_at, ok = {}, -math.huge, 0, -math.huge, true
  for g, grp in ipairs(groups) do
    local es = entries(grp)
    local pause = paused_until(grp)
    if pause <= now then pause = now end
    local fit, best = -math.huge, -math.huge
    for _, win in ipairs(grp.windows) do
      fit = math.max(fit, fit_time(es, win[1], win[2], grp.need, false))
      best = math.max(best, fit_time(es, win[1], win[2], grp.need, true))
    end
    fits[g] = math.max(fit, pause)
    earliest = math.max(earliest, best, pause)
    if fits[g] > now then ok = false end
    if fits[g] > worst_at then worst, worst_at = g, fits[g] end
  end
  if ok then return nil end
  local out = {fmt(worst_at - now), fmt(earliest - now), tostring(worst - 1)}
  for g = 1, ng do out[#out + 1] = fmt(fits[g] - now) end
  return out
end

local room = true
for _, grp in ipairs(groups) do
  grp.heavy = redis.call('EXISTS', grp.w) == 1
  if room and not has_room(grp) then room = false end
end
if not room then
  local denied = decide()
  if denied then return denied end
end
local keep = expires - now
for _, grp in ipairs(groups) do
  local z = grp.weight == 1 and grp.u or grp.w
  redis.call('HSET', grp.h, lease, grp.weight .. ' ' .. fmt(now) .. ' ' .. fmt(expires) .. ' -')
  redis.call('ZADD', z, fmt(expires), lease)
  -- Keys live until their newest entry can occupy nothing (only the written ones changed),
  -- rounded up to a grid so that most admissions find the deadline already far enough. The
  -- hash always lives at least as long as both sorted sets (it is extended whenever one is),
  -- so checking the written set alone is enough; stale entries are pruned at the same moments.
  local step = math.max(1000, math.ceil(grp.longest * 1000 / 64))
  local need = math.ceil((keep + grp.longest) * 1000) + 1000
  if redis.call('PTTL', z) < need then
    local ttl = math.ceil(need / step) * step + step
    redis.call('PEXPIRE', z, ttl)
    if redis.call('PTTL', grp.h) < ttl then redis.call('PEXPIRE', grp.h, ttl) end
    prune(grp)
  end
end
return false
"""
)

# KEYS: u, w, h per group of the buffered ends. ARGV: the buffered ends.
_END = (
    _PRELUDE
    + r"""
apply_ends(1, 1)
return false
"""
)

# KEYS: u, w, h per group. ARGV: lease_id.
_REFUND = (
    _PRELUDE
    + r"""
local lease = ARGV[1]
for k = 1, #KEYS, 3 do
  local v = redis.call('HGET', KEYS[k + 2], lease)
  if v then
    local w, a, e, d = parse(v)
    if d == '-' and tonumber(e) > now then
      redis.call('HDEL', KEYS[k + 2], lease)
      redis.call('ZREM', KEYS[k], lease); redis.call('ZREM', KEYS[k + 1], lease)
    end
  end
end
return false
"""
)

# KEYS: p. ARGV: until (relative to the caller's now).
_PAUSE = (
    _PRELUDE
    + r"""
local untl = now + tonumber(ARGV[1])
local cur = redis.call('GET', KEYS[1])
if untl > now and (not cur or untl > tonumber(cur)) then
  redis.call('SET', KEYS[1], fmt(untl), 'PX', math.ceil((untl - now) * 1000) + 1000)
end
return false
"""
)

# KEYS: u, w, h, p per group, then u, w, h per group of the buffered ends.
# ARGV: the number of groups, the longest window per group, then the buffered ends.
# Returns per group: pause (relative to now, or ''), count, then per entry
# lease, weight, admitted, expires, ended ('' in flight), all times relative to now.
_SNAPSHOT = (
    _PRELUDE
    + r"""
local function rel(x) return fmt(tonumber(x) - now) end
local ng = tonumber(ARGV[1])
apply_ends(4 * ng + 1, ng + 2)
local out = {}
for g = 1, ng do
  local k = (g - 1) * 4
  local longest = tonumber(ARGV[g + 1])
  local p = redis.call('GET', KEYS[k + 4])
  out[#out + 1] = p and rel(p) or ''
  local rows = {}
  for _, z in ipairs({KEYS[k + 1], KEYS[k + 2]}) do
    local ms = redis.call('ZRANGEBYSCORE', z, '(' .. fmt(now - longest - EPS), '+inf',
      'WITHSCORES')
    for j = 1, #ms, 2 do
      if tonumber(ms[j + 1]) + longest > now then
        local w, a, e, d = parse(redis.call('HGET', KEYS[k + 3], ms[j]))
        rows[#rows + 1] = {ms[j], w, rel(a), rel(e), d == '-' and '' or rel(d)}
      end
    end
  end
  out[#out + 1] = tostring(#rows)
  for _, r in ipairs(rows) do
    for _, x in ipairs(r) do out[#out + 1] = x end
  end
end
return out
"""
)

_MAX_PENDING = 64  # buffered ends that make ``end`` send them at once

_SCRIPTS = {"admit": _ADMIT, "end": _END, "refund": _REFUND, "pause": _PAUSE, "snapshot": _SNAPSHOT}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _in_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class RedisStore:
    """Admissions of one workspace in Redis, shared by every process on every machine.

    >>> store = RedisStore("redis://10.0.0.5:6379/0", workspace="ws1")  # doctest: +SKIP
    >>> gov = Governor(policy, store=store)  # doctest: +SKIP

    Each call is ONE round trip: a Lua script (``EVALSHA``) that reads the server's clock and
    checks and records atomically. Lease ends are buffered and ride with the next call, or are
    sent within ``end_delay`` seconds (see the module's documentation): an admission and its end
    cost one round trip together. Close the store (``aclose``) to send buffered ends. On
    asyncio it uses redis-py's asyncio client (pass your own as ``client``); on trio, redis-py's
    blocking client in worker threads. Needs the ``redis`` extra. Every user of a workspace
    must use the same quota groups (by name).

    Guarantees: every admission is linearizable across all processes (the server runs one
    script at a time); a crashed process's leases free at their bound; times are the server's.
    Not guaranteed across processes: first-come first-served. Within one process the governor
    queues waiters FIFO; between processes, whichever asks first after a slot frees gets it.
    """

    shared: ClassVar[bool] = True
    """Shared between processes: a governor built on it reads wall-clock time by default."""

    __slots__ = (
        "_async",
        "_base",
        "_demands",
        "_flushing",
        "_keycache",
        "_owns",
        "_pending",
        "_scripts",
        "_sync",
        "_tasks",
        "_timer",
        "end_delay",
        "prefix",
        "url",
        "workspace",
    )

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        workspace: str = "default",
        prefix: str = "moeseg",
        client: redis.asyncio.Redis | None = None,
        end_delay: float = 0.05,
    ) -> None:
        if not end_delay >= 0:
            raise ConfigurationError(f"end_delay must be >= 0, got {end_delay!r}")
        self.url = url
        self.end_delay = end_delay
        self.workspace = workspace
        self.prefix = prefix
        self._async: redis.asyncio.Redis | None = client
        self._owns = client is None
        self._sync: redis.Redis | None = None
        self._scripts: dict[tuple[str, bool], Any] = {}
        self._base: float | None = None  # caller's clock minus time.monotonic()
        self._keycache: dict[tuple[str, str], list[str]] = {}
        self._demands: dict[
            tuple[int, tuple[tuple[str, int], ...]], tuple[Any, list[str], str]
        ] = {}
        # Ends not yet sent: lease id -> (groups, end in the caller's base). First end wins.
        self._pending: dict[str, tuple[Sequence[str], float]] = {}
        self._timer: object | None = None  # the armed flush (asyncio handle, or True on trio)
        self._tasks: set[asyncio.Task[None]] = set()  # timer flushes (kept referenced)
        self._flushing: anyio.Event | None = None  # set when the timer's flush is done

    # -- plumbing ---------------------------------------------------------------------------

    def _keys(self, group: str, kinds: str) -> list[str]:
        keys = self._keycache.get((group, kinds))
        if keys is None:
            head = f"{self.prefix}:{{{self.workspace}}}:{group}:"
            keys = self._keycache[(group, kinds)] = [head + k for k in kinds]
        return keys

    def _demand(self, request: Admission) -> tuple[list[str], str]:
        """The keys and the demand string of a request, cached per demand object (the
        governor reuses one tuple per demand) and reserve."""
        reserve = tuple(request.reserve.items()) if request.reserve else ()
        cache_key = (id(request.demand), reserve)
        cached = self._demands.get(cache_key)
        if cached is not None and cached[0] is request.demand:
            return cached[1], cached[2]
        keys: list[str] = []
        spec: list[str] = []
        for group, weight in request.demand:
            keys += self._keys(group.name, "uwhp")
            spec += (str(weight), str(request.reserve.get(group.name, 0)), str(len(group.windows)))
            for w in group.windows:
                spec += (str(w.limit), repr(w.seconds))
        text = " ".join(spec)
        if len(self._demands) >= 256:
            self._demands.clear()
        self._demands[cache_key] = (request.demand, keys, text)
        return keys, text

    def _caller_now(self) -> float:
        base = self._base
        return time.time() if base is None else time.monotonic() + base

    def _learn(self, now: float) -> None:
        self._base = now - time.monotonic()

    async def _call(self, name: str, keys: list[str], args: list[str | int | float]) -> Any:
        if _in_asyncio():
            script = self._scripts.get((name, True))
            if script is None:
                if self._async is None:
                    import redis.asyncio

                    self._async = redis.asyncio.Redis.from_url(self.url)
                script = self._scripts[(name, True)] = self._async.register_script(_SCRIPTS[name])
            return await script(keys=keys, args=args)
        if not self._owns:
            raise ConfigurationError(
                "RedisStore was given an asyncio client but runs outside asyncio (trio): "
                "pass a url instead"
            )
        script = self._scripts.get((name, False))
        if script is None:
            if self._sync is None:
                import redis

                self._sync = redis.Redis.from_url(self.url)
            script = self._scripts[(name, False)] = self._sync.register_script(_SCRIPTS[name])
        return await anyio.to_thread.run_sync(lambda: script(keys=keys, args=args))

    def _take_ends(
        self, keys: list[str], args: list[str | int | float], now: float
    ) -> dict[str, tuple[Sequence[str], float]]:
        """Move the buffered ends into a script call's ``keys`` and ``args`` (times relative to
        the caller's ``now``); return them, to put back with :meth:`_restore` if the call
        fails."""
        taken = self._pending
        if not taken:
            return taken
        self._pending = {}
        index: dict[str, int] = {}
        for lease_id, (groups, at) in taken.items():
            args += (lease_id, repr(at - now), len(groups))
            for group in groups:
                i = index.get(group)
                if i is None:
                    i = index[group] = len(index)
                    keys += self._keys(group, "uwh")
                args.append(i)
        return taken

    def _restore(self, taken: dict[str, tuple[Sequence[str], float]]) -> None:
        """Put back ends whose call failed or was cancelled (re-sending them is harmless: an
        end of a lease already ended is ignored); they keep precedence over later ones."""
        if taken:
            self._pending = {**self._pending, **taken}
            self._arm()

    async def _with_ends(
        self, name: str, keys: list[str], args: list[str | int | float], now: float
    ) -> Any:
        taken = self._take_ends(keys, args, now)
        try:
            return await self._call(name, keys, args)
        except BaseException:
            self._restore(taken)
            raise

    async def flush(self) -> None:
        """Send the buffered lease ends now (one round trip; none if nothing is buffered)."""
        timer, self._timer = self._timer, None
        if isinstance(timer, asyncio.TimerHandle):
            timer.cancel()
        if self._pending:
            await self._with_ends("end", [], [], self._caller_now())

    def _arm(self) -> None:
        """Make sure buffered ends are sent within ``end_delay`` even if nothing else is."""
        if self._timer is not None or not self._pending:
            return
        if _in_asyncio():
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.end_delay, self._fire)
        else:
            import trio

            self._timer = True
            trio.lowlevel.spawn_system_task(self._flush_later)

    def _fire(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush_quietly())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_later(self) -> None:
        import trio

        try:
            await trio.sleep(self.end_delay)  # cancelled when the run ends: aclose() flushes
        finally:
            self._timer = None
        await self._flush_quietly()

    async def _flush_quietly(self) -> None:
        """The timer's flush: a failure leaves the ends buffered (the next call carries them;
        the timer is re-armed)."""
        done = self._flushing = anyio.Event()
        try:
            await self.flush()
        except Exception:  # retried later (re-armed); no caller is waiting on this
            pass
        finally:
            done.set()
            if self._flushing is done:
                self._flushing = None

    async def aclose(self) -> None:
        """Send the buffered lease ends, then close the connections this store opened (not a
        ``client`` given to it)."""
        try:
            running = self._flushing
            if running is not None:
                await running.wait()
            await self.flush()
        finally:
            await self._close()

    async def _close(self) -> None:
        if self._async is not None and self._owns:
            await self._async.aclose()
            self._async = None
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        self._scripts.clear()

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the Store protocol ---------------------------------------------------------------------

    async def admit(self, request: Admission) -> Denied | None:
        """Record the admission in every group of the demand (server time), or say when it
        could succeed (times in the caller's base)."""
        now = request.now
        self._learn(now)
        keys, spec = self._demand(request)
        args: list[str | int | float] = [
            request.lease_id,
            repr(request.expires_at - now),
            spec,
            len(request.demand),
        ]
        if self._pending:
            keys = keys.copy()  # the cached list stays as it is
            reply = await self._with_ends("admit", keys, args, now)
        else:
            reply = await self._call("admit", keys, args)
        if reply is None:
            return None
        fields = [_text(x) for x in reply]
        names = [g.name for g, _ in request.demand]
        fits = {name: now + float(x) for name, x in zip(names, fields[3:], strict=True)}
        return Denied(
            frees_at=now + float(fields[0]),
            earliest=now + float(fields[1]),
            group=names[int(fields[2])],
            fits=fits,
        )

    async def end(self, lease_id: str, groups: Sequence[str], at: float) -> None:
        """The lease's request finished at ``at`` (its bound, if earlier).

        Buffered: sent with this store's next call, or after ``end_delay`` at the latest (at
        once when ``end_delay`` is 0 or many ends are waiting)."""
        if not groups or lease_id in self._pending:
            return
        self._pending[lease_id] = (tuple(groups), at)
        if self.end_delay == 0 or len(self._pending) >= _MAX_PENDING:
            await self.flush()
        else:
            self._arm()

    async def refund(self, lease_id: str, groups: Sequence[str]) -> None:
        """The lease's request was never sent: delete its entries if still in flight (not
        ended, bound not passed by the server's clock). A lease whose end is buffered has
        ended: left alone."""
        if lease_id in self._pending:
            return
        keys = [k for g in groups for k in self._keys(g, "uwh")]
        if keys:
            await self._call("refund", keys, [lease_id])

    async def pause(self, group: str, until: float) -> None:
        """Admit nothing in ``group`` before ``until`` (never shortens a pause)."""
        await self._call("pause", self._keys(group, "p"), [repr(until - self._caller_now())])

    async def snapshot(self, groups: Sequence[QuotaGroup], now: float) -> dict[str, GroupState]:
        """Entries still occupying a window of their group, and pauses (caller's time base)."""
        self._learn(now)
        if not groups:
            return {}
        keys = [k for g in groups for k in self._keys(g.name, "uwhp")]
        args: list[str | int | float] = [len(groups), *(repr(g.longest) for g in groups)]
        reply = await self._with_ends("snapshot", keys, args, now)
        fields = [_text(x) for x in reply]
        out: dict[str, GroupState] = {}
        i = 0
        for group in groups:
            pause = fields[i]
            count = int(fields[i + 1])
            i += 2
            entries = []
            for _ in range(count):
                lease_id, weight, admitted, expires, ended = fields[i : i + 5]
                i += 5
                entries.append(
                    EntryState(
                        lease_id,
                        int(weight),
                        now + float(admitted),
                        now + float(expires),
                        now + float(ended) if ended else None,
                    )
                )
            entries.sort(key=lambda e: e.admitted_at)
            paused = now + float(pause) if pause else -math.inf
            out[group.name] = GroupState(group.name, tuple(entries), paused)
        return out

    def __repr__(self) -> str:
        return f"RedisStore(url={self.url!r}, workspace={self.workspace!r}, prefix={self.prefix!r})"
