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

import functools
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import anyio.to_thread

from ._clock import Clock, WallClock
from ._policy import QuotaGroup
from ._store import Demand, Denied, Granted, GroupView, Row, denied, fits_from_rows, view_from_rows

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore"]

_PRELUDE = r"""
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.17g', x) end
local function parse(v) return string.match(v, '^(%S+) (%S+) (%S+) (%S+)$') end
local function keep(keys, ttl)  -- every key lives at least ttl ms more
  for _, k in ipairs(keys) do
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
-- Append to `out` the rows (score, weight, '1' in flight else '0') of the entries of `sets`
-- that occupy a window of `longest`.
local function rows(sets, h, longest, out)
  for _, z in ipairs(sets) do
    local ms = redis.call('ZRANGEBYSCORE', z, '(' .. fmt(now - longest - 1e-6), '+inf',
      'WITHSCORES')
    for j = 1, #ms, 2 do
      local score = tonumber(ms[j + 1])
      if score + longest > now then
        local w, _, _, d = parse(redis.call('HGET', h, ms[j]))
        out[#out + 1] = ms[j + 1]; out[#out + 1] = w
        out[#out + 1] = (d == '-' and score > now) and '1' or '0'
      end
    end
  end
  return out
end
-- The server's now, then per group (KEYS u, w, h, p from 4g - 3; its longest window
-- longest[g]): its pause ('' if none), its number of rows, its rows.
local function snapshot(longest)
  local out = {fmt(now)}
  for g = 1, #longest do
    local k = (g - 1) * 4
    local rs = rows({KEYS[k + 1], KEYS[k + 2]}, KEYS[k + 3], longest[g], {})
    out[#out + 1] = redis.call('GET', KEYS[k + 4]) or ''
    out[#out + 1] = tostring(#rs / 3)
    for _, x in ipairs(rs) do out[#out + 1] = x end
  end
  return out
end
"""

# KEYS: u, w, h, p per group of the demand, then the lease's tombstone. ARGV: lease_id,
# lease seconds, then per group: weight, number of windows, (limit, seconds) per window.
# Returns {'ok', now, expires}, {'gone'}, or a snapshot of the groups (the caller works out
# the wait).
_ADMIT = (
    _PRELUDE
    + r"""
local lease = ARGV[1]
local expires = now + tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[#KEYS]) == 1 then return {'gone'} end
local groups, longest, i = {}, {}, 3
for k = 1, #KEYS - 1, 4 do
  local grp = {u = KEYS[k], w = KEYS[k + 1], h = KEYS[k + 2], p = KEYS[k + 3], windows = {},
    weight = tonumber(ARGV[i])}
  for j = 1, tonumber(ARGV[i + 1]) do
    grp.windows[j] = {tonumber(ARGV[i + 2 * j]), tonumber(ARGV[i + 2 * j + 1])}
  end
  i = i + 2 + 2 * #grp.windows
  grp.longest = grp.windows[#grp.windows][2]
  groups[#groups + 1] = grp
  longest[#longest + 1] = grp.longest
end

-- The admission rule (see _store.py). Quick: unit-weight entries are counted, not read (those
-- within 1e-6 of leaving still count); else exact: every entry is read.
local function room(grp, quick)
  local p = redis.call('GET', grp.p)
  if p and tonumber(p) > now then return false end
  local es = rows(quick and {grp.w} or {grp.u, grp.w}, grp.h, grp.longest, {})
  for _, win in ipairs(grp.windows) do
    local used = 0
    if quick then used = redis.call('ZCOUNT', grp.u, '(' .. fmt(now - win[2] - 1e-6), '+inf') end
    for j = 1, #es, 3 do
      if tonumber(es[j]) + win[2] > now then used = used + tonumber(es[j + 1]) end
    end
    if used + grp.weight > win[1] then return false end
  end
  return true
end
local function fits(quick)
  for _, grp in ipairs(groups) do if not room(grp, quick) then return false end end
  return true
end

if not fits(true) and not fits(false) then return snapshot(longest) end
for _, grp in ipairs(groups) do
  local z = grp.weight == 1 and grp.u or grp.w
  redis.call('HSET', grp.h, lease, grp.weight .. ' ' .. fmt(now) .. ' ' .. fmt(expires) .. ' -')
  redis.call('ZADD', z, fmt(expires), lease)
  -- Keys live until their newest entry can occupy nothing; the hash at least as long as both
  -- sorted sets. Entries that occupy no window any more change no decision (every count looks
  -- at live scores): they are dropped here to bound memory.
  keep({z, grp.h}, math.ceil((expires - now + grp.longest) * 1000) + 1000)
  for _, set in ipairs({grp.u, grp.w}) do
    local old = redis.call('ZRANGEBYSCORE', set, '-inf', fmt(now - grp.longest), 'WITHSCORES')
    for j = 1, #old, 2 do
      if tonumber(old[j + 1]) + grp.longest <= now then
        redis.call('ZREM', set, old[j]); redis.call('HDEL', grp.h, old[j])
      end
    end
  end
end
return {'ok', fmt(now), fmt(expires)}
"""
)

# KEYS: u, w, h per group. ARGV: lease_id. Records the end at min(now, bound) of a lease still
# in flight (unknown or ended leases are left alone).
_END = (
    _PRELUDE
    + r"""
for k = 1, #KEYS, 3 do
  local v = redis.call('HGET', KEYS[k + 2], ARGV[1])
  if v then
    local w, a, e, d = parse(v)
    if d == '-' then
      local stop = fmt(math.min(now, tonumber(e)))
      redis.call('HSET', KEYS[k + 2], ARGV[1], w .. ' ' .. a .. ' ' .. e .. ' ' .. stop)
      redis.call('ZADD', w == '1' and KEYS[k] or KEYS[k + 1], stop, ARGV[1])
    end
  end
end
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
  local v = redis.call('HGET', KEYS[k + 2], lease)
  if v then
    found = true
    local _, _, e, d = parse(v)
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

# KEYS: u, w, h, p per group. ARGV: the longest window per group.
_SNAPSHOT = (
    _PRELUDE
    + r"""
local longest = {}
for g = 1, #ARGV do longest[g] = tonumber(ARGV[g]) end
return snapshot(longest)
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
keep({z, KEYS[3]}, math.ceil(tonumber(ARGV[3]) * 1000) + 2000)
return fmt(now)
"""
)


def _snapshot(fields: list[str], groups: int) -> tuple[float, list[tuple[float, list[Row]]]]:
    """The server's now and each group's pause and rows (by end), from a script's snapshot."""
    now, i, out = float(fields[0]), 1, []
    for _ in range(groups):
        pause, n = fields[i], int(fields[i + 1])
        rows = [
            (float(fields[j]), int(fields[j + 1]), fields[j + 2] == "1")
            for j in range(i + 2, i + 2 + 3 * n, 3)
        ]
        i += 2 + 3 * n
        rows.sort()
        out.append((float(pause) if pause else -math.inf, rows))
    return now, out


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

    __slots__ = ("_client", "_owns", "prefix", "recheck", "timeout", "url", "workspace")

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

    def _keys(self, groups: Iterable[str], kinds: str) -> list[str]:
        return [f"{self.prefix}:{{{self.workspace}}}:{g}:{k}" for g in groups for k in kinds]

    def _tomb(self, lease_id: str) -> str:
        return f"{self.prefix}:{{{self.workspace}}}:t:{lease_id}"

    def _call_sync(self, script: str, keys: list[str], args: list[str | int | float]) -> list[str]:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        out = self._client.register_script(script)(keys=keys, args=args)
        return [_text(x) for x in out] if isinstance(out, list) else [_text(out)]

    async def _call(self, script: str, keys: list[str], args: list[str | int | float]) -> list[str]:
        call = functools.partial(self._call_sync, script, keys, args)
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)

    async def aclose(self) -> None:
        """Close the connections this store opened (not a ``client`` given to it)."""
        client, self._client = self._client, None
        if client is not None and self._owns:
            await anyio.to_thread.run_sync(client.close)

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the Store protocol ---------------------------------------------------------------------

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        """Record the admission (server time), or say how long it must wait."""
        keys = self._keys([g.name for g, _ in demand], "uwhp")
        keys.append(self._tomb(lease_id))
        args: list[str | int | float] = [lease_id, repr(lease_seconds)]
        for group, weight in demand:
            args += (weight, len(group.windows))
            for w in group.windows:
                args += (w.limit, repr(w.seconds))
        fields = await self._call(_ADMIT, keys, args)
        if fields[0] == "ok":
            return Granted(float(fields[1]), float(fields[2]))
        if fields[0] == "gone":
            return Denied(math.inf, math.inf, demand[0][0].name, 0.0)
        now, groups = _snapshot(fields, len(demand))
        fits = {
            g.name: fits_from_rows(g, w, now, paused, rows)
            for (g, w), (paused, rows) in zip(demand, groups, strict=True)
        }
        return denied(now, fits)

    async def end(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request finished now (server time; its bound, if earlier)."""
        keys = self._keys(groups, "uwh")
        if not keys:
            return -math.inf
        return float((await self._call(_END, keys, [lease_id]))[0])

    async def refund(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request was never sent: delete its entries if still in flight; if its
        admission has not arrived yet, it never will."""
        keys = [*self._keys(groups, "uwh"), self._tomb(lease_id)]
        return float((await self._call(_REFUND, keys, [lease_id, 3_600_000]))[0])

    async def pause(self, group: str, seconds: float) -> float:
        """Admit nothing in ``group`` for ``seconds`` (never shortens a pause)."""
        return float((await self._call(_PAUSE, self._keys([group], "p"), [repr(seconds)]))[0])

    async def spend(self, group: QuotaGroup, units: int) -> float:
        """Record ``units`` spent elsewhere just now."""
        keys = self._keys([group.name], "uwh")
        args: list[str | int | float] = [f"spent-{uuid.uuid4().hex}", units, repr(group.longest)]
        return float((await self._call(_SPEND, keys, args))[0])

    async def view(self, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        """Occupancy now, per group and window (server time)."""
        if not groups:
            return {}
        keys = self._keys([g.name for g in groups], "uwhp")
        args: list[str | int | float] = [repr(g.longest) for g in groups]
        fields = await self._call(_SNAPSHOT, keys, args)
        now, rows = _snapshot(fields, len(groups))
        return {g.name: view_from_rows(g, now, *r) for g, r in zip(groups, rows, strict=True)}

    def __repr__(self) -> str:
        return f"RedisStore(url={self.url!r}, workspace={self.workspace!r}, prefix={self.prefix!r})"
