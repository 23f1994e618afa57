"""Serving a sandbox from a shell: ``moeseg sandbox serve`` and ``python -m moeseg.sandbox``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .._asgi_server import base_url, bind_socket, is_loopback, require_uvicorn, run_forever
from .._exceptions import ConfigurationError
from ._app import Sandbox
from ._config import SandboxConfig
from ._faults import FaultConfig

__all__ = ["banner", "main", "serve_command", "serve_forever"]


def banner(sandbox: Sandbox, url: str) -> str:
    """What to tell a user: where the sandbox listens and the (sandbox-only) credentials."""
    return "\n".join(
        [
            f"moeseg sandbox listening on {url}",
            f"  workspace id (MOE-APPKEY, legacy appId): {sandbox.workspace_id}",
            f"  api key:            {sandbox.api_key}",
            f"  db name (MOE-DBNAME): {sandbox.db_name}",
            f"  legacy api secret:  {sandbox.legacy_api_secret}",
            "  (sandbox-only credentials; v3, v2 and POST /csv_segment on this one base URL)",
        ]
    )


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    config: SandboxConfig | None = None,
    *,
    announce: Callable[[str], object] | None = None,
    allow_remote: bool = False,
) -> None:
    """Run a sandbox server until interrupted (Ctrl-C); blocking. ``announce`` receives the
    banner (base URL and credentials) once the port is bound; default: print to stdout.

    Raises ``ConfigurationError`` before announcing anything when ``host`` is not a loopback
    address (the credentials are public; ``allow_remote=True`` accepts it), when uvicorn is
    missing, or when the port cannot be bound.
    """
    if not (allow_remote or is_loopback(host)):
        raise ConfigurationError(
            f"{host} is not a loopback address and the sandbox's credentials are public; "
            "use 127.0.0.1 or ::1, or allow it explicitly (--allow-remote)"
        )
    require_uvicorn()
    sandbox = Sandbox(config)
    sandbox.served = True
    sock = bind_socket(host, port)
    say = announce or (lambda text: print(text, file=sys.stdout, flush=True))
    say(banner(sandbox, base_url(host, sock)))
    run_forever(sandbox.app, sock)


def serve_command(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    time_scale: float = 1.0,
    error_rate: float = 0.0,
    drop_rate: float = 0.0,
    seed: int = 0,
    allow_remote: bool = False,
) -> int:
    """Serve until interrupted and return the exit status: 0, or 2 after one line on stderr
    saying what is wrong (a bad option, a port in use, uvicorn missing)."""
    try:
        faults = FaultConfig.rates(error_rate, drop_rate, seed)
        config = SandboxConfig(time_scale=time_scale, faults=faults)
        serve_forever(host, port, config, allow_remote=allow_remote)
    except ValueError as exc:  # ConfigurationError included
        print(f"moeseg sandbox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m moeseg.sandbox",
        description="Serve a local MoEngage-compatible sandbox (v3, v2 and legacy CSV APIs).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="accept a --host that is not loopback (the sandbox's credentials are public)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every quota window's length (0.01: a day of quota in 14.4 minutes)",
    )
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="probability of a 503 answer per request"
    )
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        help="probability of dropping the connection after processing a request",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    # The options are named as serve_command's parameters.
    return serve_command(**vars(parser.parse_args(argv)))
