"""The workspace state in Redis, for a team that applies from several machines (CI runners).

Keys, per namespace (by default the MoEngage workspace id), in one hash slot::

    {prefix}:state:{<namespace>}:meta   hash: app, schema_version
    {prefix}:state:{<namespace>}:rows   hash: key -> the row as JSON
    {prefix}:state:{<namespace>}:lock   the apply lock: the owner, with a TTL (SET NX PX)

The lock is taken and renewed by one script (take it when free or ours, else report who holds
it and for how long) and released only by its owner, so an expired lock of a dead apply frees
itself and a late release never drops another owner's lock. Its expiry is the server's. The
client is blocking: async code calls it in a worker thread, as for the SQLite state. Needs
the ``redis`` extra.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import ConfigurationError
from ._errors import StateError, StateLocked, StateSchemaError
from ._state import SCHEMA_VERSION, StateRow, StateSnapshot

if TYPE_CHECKING:
    import redis

__all__ = ["RedisState"]

_APP: Final = "moeseg-workspace"
_ACQUIRE: Final = """
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return {'', 0}
end
return {held, redis.call('PTTL', KEYS[1])}
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_FIELDS: Final = ("segment_id", "name", "fingerprint", "payload", "verified_at", "archived_at")


def is_redis_url(text: str) -> bool:
    """Whether ``text`` names a Redis server rather than a file."""
    return text.startswith(("redis://", "rediss://", "unix://"))


class RedisState:
    """A :class:`StateStore` in Redis (``url``), one namespace per workspace.

    Opening checks the namespace's meta hash: another application's keys or another schema
    version raise :class:`StateSchemaError`; an unreachable server raises :class:`StateError`.
    ``location`` never shows a password.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        prefix: str = "moeseg",
        client: redis.Redis | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._location = f"{re.sub(r'//[^@/]*@', '//', url)} ({namespace})"
        head = f"{prefix}:state:{{{namespace}}}:"
        self._meta, self._rows, self._lock = head + "meta", head + "rows", head + "lock"
        if client is None:
            try:
                import redis as redis_module
            except ImportError:
                raise ConfigurationError(
                    "a Redis state needs the 'redis' extra: pip install 'moeseg[redis]'"
                ) from None
            client = redis_module.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self._client = client
        self._scripts = {
            "acquire": client.register_script(_ACQUIRE),
            "release": client.register_script(_RELEASE),
        }
        meta = self._do(lambda: client.hgetall(self._meta))
        app, version = meta.get(b"app"), meta.get(b"schema_version")
        if not meta:
            mapping: Any = {"app": _APP, "schema_version": str(SCHEMA_VERSION)}
            self._do(lambda: client.hset(self._meta, mapping=mapping))
        elif app != _APP.encode():
            raise StateSchemaError(self._location, f"not a moeseg workspace state (app {app!r})")
        elif version != str(SCHEMA_VERSION).encode():
            raise StateSchemaError(
                self._location,
                f"schema version {version!r}, this moeseg reads {SCHEMA_VERSION}",
            )

    @property
    def location(self) -> str:
        return self._location

    def _do(self, call: Any) -> Any:
        import redis as redis_module

        try:
            return call()
        except redis_module.RedisError as exc:
            raise StateError(self._location, f"Redis: {type(exc).__name__}: {exc}") from None

    def snapshot(self) -> StateSnapshot:
        raw = self._do(lambda: self._client.hgetall(self._rows))
        rows = {}
        for k, v in sorted(raw.items()):
            key = k.decode()
            try:
                data = json.loads(v)
                rows[key] = StateRow(
                    key,
                    data["segment_id"],
                    data["name"],
                    data["fingerprint"],
                    data["payload"],
                    data["verified_at"],
                    data["archived_at"],
                    bool(data["read_only"]),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise StateSchemaError(self._location, f"row {key!r} unreadable: {exc}") from None
        return StateSnapshot(rows)

    def put(self, row: StateRow) -> None:
        data = {f: getattr(row, f) for f in _FIELDS} | {"read_only": row.read_only}
        text = json.dumps(data, sort_keys=True)
        self._do(lambda: self._client.hset(self._rows, row.key, text))

    def forget(self, key: str) -> None:
        self._do(lambda: self._client.hdel(self._rows, key))

    def acquire(self, owner: str, *, ttl: float, now: float) -> None:
        ms = max(1, round(ttl * 1000))
        held, pttl = self._do(lambda: self._scripts["acquire"](keys=[self._lock], args=[owner, ms]))
        if held:
            raise StateLocked(self._location, held.decode(), now + max(0, pttl) / 1000)

    def release(self, owner: str) -> None:
        self._do(lambda: self._scripts["release"](keys=[self._lock], args=[owner]))

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()
