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
``ZCOUNT`` per window. Entries that occupy no window are deleted by the next admission in the
group, and every key expires soon after its newest entry can occupy nothing (at most a second
plus two steps of max(1 s, longest window / 64) later): memory stays bounded, and an idle
workspace leaves no key behind.

Time is the Redis server's (``TIME`` inside each script), so machines with skewed clocks agree.
The caller's times (the governor's clock) are converted by offset: a script receives durations
relative to the caller's ``now`` and returns times relative to the server's, which the store
adds back to the caller's ``now``. For ``end`` and ``pause``, which carry no ``now``, the store
uses the caller's clock as learned at the last ``admit``/``snapshot`` (wall-clock time before
any): any real-time clock works, the governor's default loop clock included.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

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
"""

# KEYS: u, w, h, p per group. ARGV: lease_id, expires_in, and the demand as one string of
# numbers, per group: weight, reserve, number of windows, (limit, seconds) per window.
_ADMIT = (
    _PRELUDE
    + r"""
local lease = ARGV[1]
local expires = now + tonumber(ARGV[2])
local spec = {}
for x in string.gmatch(ARGV[3], '%S+') do spec[#spec + 1] = tonumber(x) end
local ng = #KEYS / 4
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

-- Drop entries that occupy no window of their group any more.
local function prune(grp)
  grp.heavy = redis.call('EXISTS', grp.w) == 1
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
  prune(grp)
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
  -- rounded up to a grid so that most admissions find the deadline already far enough.
  local step = math.max(1000, math.ceil(grp.longest * 1000 / 64))
  local need = math.ceil((keep + grp.longest) * 1000) + 1000
  local ttl = math.ceil(need / step) * step + step
  for _, k in ipairs({z, grp.h}) do
    if redis.call('PTTL', k) < need then redis.call('PEXPIRE', k, ttl) end
  end
end
return false
"""
)

# KEYS: u, w, h per group. ARGV: lease_id, at (relative to the caller's now).
_END = (
    _PRELUDE
    + r"""
local lease = ARGV[1]
local at = now + tonumber(ARGV[2])
for k = 1, #KEYS, 3 do
  local v = redis.call('HGET', KEYS[k + 2], lease)
  if v then
    local w, a, e, d = parse(v)
    if d == '-' then
      local stop = math.min(at, tonumber(e))
      redis.call('HSET', KEYS[k + 2], lease, w .. ' ' .. a .. ' ' .. e .. ' ' .. fmt(stop))
      redis.call('ZADD', w == '1' and KEYS[k] or KEYS[k + 1], fmt(stop), lease)
    end
  end
end
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

# KEYS: u, w, h, p per group. ARGV: longest window per group.
# Returns per group: pause (relative to now, or ''), count, then per entry
# lease, weight, admitted, expires, ended ('' in flight), all times relative to now.
_SNAPSHOT = (
    _PRELUDE
    + r"""
local function rel(x) return fmt(tonumber(x) - now) end
local out = {}
for g = 1, #ARGV do
  local k = (g - 1) * 4
  local longest = tonumber(ARGV[g])
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
    checks and records atomically. On asyncio it uses redis-py's asyncio client (pass your own as
    ``client``); on trio, redis-py's blocking client in worker threads. Needs the ``redis``
    extra. Every user of a workspace must use the same quota groups (by name).

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
        "_keycache",
        "_owns",
        "_scripts",
        "_sync",
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
    ) -> None:
        self.url = url
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

    async def aclose(self) -> None:
        """Close the connections this store opened (not a ``client`` given to it)."""
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
        args: list[str | int | float] = [request.lease_id, repr(request.expires_at - now), spec]
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
        """The lease's request finished at ``at`` (its bound, if earlier)."""
        keys = [k for g in groups for k in self._keys(g, "uwh")]
        if keys:
            await self._call("end", keys, [lease_id, repr(at - self._caller_now())])

    async def refund(self, lease_id: str, groups: Sequence[str]) -> None:
        """The lease's request was never sent: delete its entries if still in flight (not
        ended, bound not passed by the server's clock)."""
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
        reply = await self._call("snapshot", keys, [repr(g.longest) for g in groups])
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
