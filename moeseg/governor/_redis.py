"""The Redis store: admissions shared by processes on many machines, decided in Lua on the server.

Key layout, per workspace ``ws`` and quota group ``g`` (``{ws}`` is a cluster hash tag: every
key of a workspace lives in one slot, so one script may touch them all)::

    {prefix}:{ws}:{g}:u   sorted set: lease ids of weight 1, scored by the lease's end bound
    {prefix}:{ws}:{g}:w   sorted set: lease ids of weight > 1, scored the same way
    {prefix}:{ws}:{g}:h   hash: lease id -> "weight admitted expires ended" ("-" while in flight)
    {prefix}:{ws}:{g}:p   string: the group's pause, until this server time
    {prefix}:{ws}:t:{id}  a refunded lease whose admission had not arrived (expires)

One entry per request. The score is the pessimistic end of the lease: its bound while in flight,
its end once ended; an entry occupies a window of ``W`` at ``now`` exactly when ``score + W >
now``. Every key expires once its newest entry can occupy nothing.

Time is the Redis server's (``TIME`` inside each script): machines with skewed clocks agree, and
callers only ever see durations. A step of the server's clock is not corrected.

Each call is one script (``EVALSHA``) sent at once with redis-py's blocking client in a worker
thread, with socket timeouts: a stalled server costs a caller at most ``timeout``, and a caller
that leaves abandons the thread (the governor then refunds the lease, tombstone included).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread

from ._clock import Clock, WallClock
from ._policy import QuotaGroup
from ._store import Demand, Denied, Granted, GroupView, WindowView

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore"]

T = TypeVar("T")

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
"""

# KEYS: u, w, h, p per group of the demand, then the lease's tombstone. ARGV: lease_id,
# lease seconds, the demand as one string of numbers (per group: weight, 0, number of windows,
# (limit, seconds) per window), the number of groups. Returns {'ok', now, expires}, {'gone'},
# or {wait, best, index of the group, now}.
_ADMIT = (
    _PRELUDE
    + r"""
local lease = ARGV[1]
local expires = now + tonumber(ARGV[2])
local spec = {}
for x in string.gmatch(ARGV[3], '%S+') do spec[#spec + 1] = tonumber(x) end
local ng = tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[#KEYS]) == 1 then return {'gone'} end
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

-- The admission rule (see _store.py) exactly: when the request could fit, at worst and at best.
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
  return {fmt(worst_at - now), fmt(earliest - now), tostring(worst - 1), fmt(now)}
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
return {'ok', fmt(now), fmt(expires)}
"""
)

# KEYS: u, w, h per group. ARGV: lease_id.
_END = (
    _PRELUDE
    + r"""
for k = 1, #KEYS, 3 do finish(KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[1], now) end
return fmt(now)
"""
)

# KEYS: u, w, h per group, then the lease's tombstone. ARGV: lease_id, tombstone ttl (ms).
_REFUND = (
    _PRELUDE
    + r"""
local lease = ARGV[1]
local found = false
for k = 1, #KEYS - 1, 3 do
  if redis.call('HEXISTS', KEYS[k + 2], lease) == 1 then found = true end
  local v = redis.call('HGET', KEYS[k + 2], lease)
  if v then
    local w, a, e, d = parse(v)
    if d == '-' and tonumber(e) > now then
      redis.call('HDEL', KEYS[k + 2], lease)
      redis.call('ZREM', KEYS[k], lease); redis.call('ZREM', KEYS[k + 1], lease)
    end
  end
end
-- Refunded before its admission ran (the caller left meanwhile): that admission never happens.
if not found then redis.call('SET', KEYS[#KEYS], '1', 'PX', ARGV[2]) end
return fmt(now)
"""
)

# KEYS: p. ARGV: seconds.
_PAUSE = (
    _PRELUDE
    + r"""
local untl = now + tonumber(ARGV[1])
local cur = redis.call('GET', KEYS[1])
if untl > now and (not cur or untl > tonumber(cur)) then
  redis.call('SET', KEYS[1], fmt(untl), 'PX', math.ceil((untl - now) * 1000) + 1000)
end
return fmt(now)
"""
)

# KEYS: u, w, h, p per group. ARGV: the number of groups, the longest window per group.
# Returns the server's now, then per group: pause (relative to now, or ''), count, then per entry
# lease, weight, admitted, expires, ended ('' in flight), all times relative to now.
_SNAPSHOT = (
    _PRELUDE
    + r"""
local function rel(x) return fmt(tonumber(x) - now) end
local ng = tonumber(ARGV[1])
local out = {fmt(now)}
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

# KEYS: u, w, h. ARGV: an id, units, the group's longest window.
_SPEND = (
    _PRELUDE
    + r"""
local units = tonumber(ARGV[2])
local t = fmt(now)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. t .. ' ' .. t .. ' ' .. t)
local z = units == 1 and KEYS[1] or KEYS[2]
redis.call('ZADD', z, fmt(now), ARGV[1])
local ttl = math.ceil(tonumber(ARGV[3]) * 1000) + 2000
for _, k in ipairs({z, KEYS[3]}) do
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end
return fmt(now)
"""
)

_SCRIPTS = {
    "admit": _ADMIT,
    "end": _END,
    "refund": _REFUND,
    "pause": _PAUSE,
    "snapshot": _SNAPSHOT,
    "spend": _SPEND,
}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore:
    """Admissions of one workspace in Redis, shared by every process on every machine.

    >>> store = RedisStore("redis://10.0.0.5:6379/0", workspace="ws1")  # doctest: +SKIP
    >>> gov = Governor(policy, store=store)  # doctest: +SKIP

    Each call is ONE round trip (a Lua script that reads the server's clock and checks and
    records atomically), sent at once. ``timeout`` bounds every socket operation (a server that
    stops answering fails the call: :class:`StoreUnavailable`); ``recheck`` is how often a
    waiting governor re-asks (another process may end a lease early). ``client``: your own
    ``redis.Redis`` (blocking client; it is used from worker threads). Needs the ``redis``
    extra. Every user of a workspace must use the same quota groups (by name).

    Guarantees: every admission is linearizable across all processes; a crashed process's
    leases free at their bound; times are the server's. First-come first-served holds within
    one process, not between processes.
    """

    clock: Clock = WallClock()
    """Only for this process's bookkeeping: every decision uses the server's clock."""

    __slots__ = ("_client", "_owns", "_scripts", "prefix", "recheck", "timeout", "url", "workspace")

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        workspace: str = "default",
        prefix: str = "moeseg",
        client: redis.Redis | None = None,
        timeout: float = 5.0,
        recheck: float = 1.0,
    ) -> None:
        self.url = url
        self.workspace = workspace
        self.prefix = prefix
        self.timeout = timeout
        self.recheck = recheck
        self._client = client
        self._owns = client is None
        self._scripts: dict[str, Any] = {}

    def _keys(self, group: str, kinds: str) -> list[str]:
        head = f"{self.prefix}:{{{self.workspace}}}:{group}:"
        return [head + k for k in kinds]

    def _tomb(self, lease_id: str) -> str:
        return f"{self.prefix}:{{{self.workspace}}}:t:{lease_id}"

    def _call_sync(self, name: str, keys: list[str], args: list[str | int | float]) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._client.register_script(_SCRIPTS[name])
        return script(keys=keys, args=args)

    async def _call(self, name: str, keys: list[str], args: list[str | int | float]) -> Any:
        fn: Callable[[], Any] = lambda: self._call_sync(name, keys, args)  # noqa: E731
        return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)

    async def aclose(self) -> None:
        """Close the connections this store opened (not a ``client`` given to it)."""
        client, self._client = self._client, None
        self._scripts.clear()
        if client is not None and self._owns:
            await anyio.to_thread.run_sync(client.close)

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the Store protocol ---------------------------------------------------------------------

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        """Record the admission (server time), or say how long it must wait."""
        keys: list[str] = []
        spec: list[str] = []
        for group, weight in demand:
            keys += self._keys(group.name, "uwhp")
            spec += (str(weight), "0", str(len(group.windows)))
            for w in group.windows:
                spec += (str(w.limit), repr(w.seconds))
        keys.append(self._tomb(lease_id))
        args: list[str | int | float] = [lease_id, repr(lease_seconds), " ".join(spec), len(demand)]
        fields = [_text(x) for x in await self._call("admit", keys, args)]
        if fields[0] == "ok":
            return Granted(float(fields[1]), float(fields[2]))
        if fields[0] == "gone":
            return Denied(math.inf, math.inf, demand[0][0].name, 0.0)
        name = demand[int(fields[2])][0].name
        return Denied(float(fields[0]), float(fields[1]), name, float(fields[3]))

    async def end(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request finished now (server time; its bound, if earlier)."""
        keys = [k for g in groups for k in self._keys(g, "uwh")]
        if not keys:
            return -math.inf
        return float(_text(await self._call("end", keys, [lease_id])))

    async def refund(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request was never sent: delete its entries if still in flight; if its
        admission has not arrived yet, it never will."""
        keys = [k for g in groups for k in self._keys(g, "uwh")]
        keys.append(self._tomb(lease_id))
        return float(_text(await self._call("refund", keys, [lease_id, 3_600_000])))

    async def pause(self, group: str, seconds: float) -> float:
        """Admit nothing in ``group`` for ``seconds`` (never shortens a pause)."""
        return float(_text(await self._call("pause", self._keys(group, "p"), [repr(seconds)])))

    async def spend(self, group: QuotaGroup, units: int) -> float:
        """Record ``units`` spent elsewhere just now."""
        keys = self._keys(group.name, "uwh")
        args: list[str | int | float] = [f"spent-{uuid.uuid4().hex}", units, repr(group.longest)]
        return float(_text(await self._call("spend", keys, args)))

    async def view(self, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        """Occupancy now, per group and window (server time)."""
        if not groups:
            return {}
        keys = [k for g in groups for k in self._keys(g.name, "uwhp")]
        args: list[str | int | float] = [len(groups), *(repr(g.longest) for g in groups)]
        fields = [_text(x) for x in await self._call("snapshot", keys, args)]
        now = float(fields[0])
        out: dict[str, GroupView] = {}
        i = 1
        for g in groups:
            pause, count = fields[i], int(fields[i + 1])
            i += 2
            rows: list[tuple[float, int, bool]] = []
            for _ in range(count):
                _, weight, _, expires, ended = fields[i : i + 5]
                i += 5
                end = now + float(ended) if ended else now + float(expires)
                rows.append((end, int(weight), not ended and end > now))
            rows.sort()
            flying = sum(w for _, w, f in rows if f)
            wins = tuple(
                WindowView(
                    w,
                    sum(wt for e, wt, _ in rows if e + w.seconds > now),
                    [(e, wt) for e, wt, f in rows if not f and e + w.seconds > now],
                )
                for w in g.windows
            )
            paused = now + float(pause) if pause else -math.inf
            out[g.name] = GroupView(g.name, now, flying, paused, wins)
        return out

    def __repr__(self) -> str:
        return f"RedisStore(url={self.url!r}, workspace={self.workspace!r}, prefix={self.prefix!r})"
