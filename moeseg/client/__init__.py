"""The HTTP client: credentials, every MoEngage segment endpoint, retries and error mapping."""

from ._client import Client

__all__ = ["Client"]
