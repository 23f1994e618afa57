"""The ``moeseg`` command line (needs the ``cli`` extra: ``pip install 'moeseg[cli]'``).

Layout: ``_app`` builds the typer application from the command modules (``_batch_commands``,
``_segment_commands`` with ``_quota_watch``, ``_workspace_commands``, ``_cohort_commands``);
``_options`` holds the connection options they share and ``_output`` the consoles, exit codes,
the event-loop runner that turns errors and signals into them, and the quota table.
"""

import signal
import sys
from types import FrameType

# The command is the interface (``moeseg --help``); ``main`` is its console-script entry.
__all__: list[str] = []

# The third-party modules the command line needs beyond the library's own dependencies.
_CLI_MODULES = frozenset({"typer", "click", "rich", "yaml", "shellingham"})


def main() -> None:
    """Entry point of the ``moeseg`` script and ``python -m moeseg``."""
    try:
        from ._app import app
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _CLI_MODULES:
            raise
        sys.stderr.write(
            f"moeseg: the command line needs the 'cli' extra ({missing} is not installed): "
            "pip install 'moeseg[cli]'\n"
        )
        raise SystemExit(2) from None
    # SIGTERM interrupts like Ctrl-C. Inside the event loop each command listens for both; a
    # signal outside it ends the command with click's "Aborted!", and then with 130, not 1.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except SystemExit as exc:
        if _signals and exc.code == 1:
            raise SystemExit(130) from None
        raise


_signals: list[int] = []


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _signals.append(signum)
    raise KeyboardInterrupt
