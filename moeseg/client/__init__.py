# moeseg.client: _config (API roots, environment, options) and _credentials (headers, signature,
# redaction) configure; _send takes quota, sends, reads and retries (rules in _retry); _answers
# turns an answer into a result or a typed error; _exactly_once settles creates of unknown
# outcome; _client is the Client with its endpoints; _file_options the file calls' options;
# _sync the blocking SyncClient over a Client in a background event loop.
"""The HTTP client: every MoEngage segment endpoint, governed, retried, typed."""

from ._client import Client
from ._file_options import FileOptions
from ._sync import SyncClient

__all__ = ["Client", "FileOptions", "SyncClient"]

# Importable by moeseg's other packages, not part of the public API (explicit re-exports).
from ._config import ENV_API_KEY as ENV_API_KEY
from ._config import ENV_WORKSPACE_ID as ENV_WORKSPACE_ID
from ._config import FileKw as FileKw
from ._config import env as env
