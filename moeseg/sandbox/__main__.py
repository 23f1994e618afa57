"""``python -m moeseg.sandbox --port N``: serve a sandbox on loopback until Ctrl-C."""

from ._serve import main

if __name__ == "__main__":
    raise SystemExit(main())
