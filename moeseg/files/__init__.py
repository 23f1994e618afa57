# moeseg.files: file segments end to end. _csv checks a CSV before upload (rules, user count);
# _receiver is the ASGI app that takes MoEngage's callbacks (single-use secret tokens);
# _results holds the outcome and the awaitable handle; _errors the file-segment errors.
"""File segments: check the CSV, send it, and ``await`` MoEngage's callback.

MoEngage answers a file-segment request with 202, downloads the CSV, and later POSTs the outcome
to a callback URL. :class:`CallbackReceiver` receives those POSTs (mounted in your ASGI app, or
served on loopback), and each operation's :class:`FileSegmentHandle` resolves with its outcome.
"""

from ._csv import MAX_FILE_BYTES, CsvReport, CsvViolation, check_csv, check_csv_url
from ._errors import CallbackTimeout, CsvCheckError, FileSegmentFailed
from ._receiver import CallbackReceiver
from ._results import FileSegmentHandle, FileSegmentOutcome

__all__ = [
    "CallbackReceiver",
    "CallbackTimeout",
    "check_csv",
    "check_csv_url",
    "CsvCheckError",
    "CsvReport",
    "CsvViolation",
    "FileSegmentFailed",
    "FileSegmentHandle",
    "FileSegmentOutcome",
    "MAX_FILE_BYTES",
]
