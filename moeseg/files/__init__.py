# moeseg.files: file segments end to end. _csv checks a CSV before upload (rules, user count);
# _receiver is the ASGI app that takes MoEngage's callbacks (single-use secret tokens);
# _results holds the outcome and the awaitable handle; _handles where handles are kept (memory
# or a SQLite file that survives restarts); _segments the FileSegments facade that ties checks,
# client, receiver and handle store together.
"""File segments: check the CSV, send it, and ``await`` MoEngage's callback.

MoEngage answers a file-segment request with 202, downloads the CSV, and later POSTs the outcome
to a callback URL. :class:`CallbackReceiver` receives those POSTs (mounted in your ASGI app, or
served on loopback), and each operation's :class:`FileSegmentHandle` resolves with its outcome.
:class:`FileSegments` ties it together with the client::

    receiver = CallbackReceiver()
    async with moeseg.Client(...) as client, receiver.serve(port=0):
        files = FileSegments(client, receiver)
        handle = await files.create("vip", url, FileOptions("id"), csv_path="vip.csv",
                                    expiry_time=30)
        outcome = await handle.wait(timeout=3600)
"""

from ._csv import MAX_FILE_BYTES as MAX_FILE_BYTES
from ._csv import CsvCheckError, CsvReport, check_csv, check_csv_url
from ._csv import CsvViolation as CsvViolation
from ._handles import HandleStoreError as HandleStoreError
from ._receiver import CallbackReceiver
from ._results import CallbackTimeout, FileSegmentFailed, FileSegmentHandle, FileSegmentOutcome
from ._segments import FileSegments

__all__ = [
    "CallbackReceiver",
    "CallbackTimeout",
    "CsvCheckError",
    "CsvReport",
    "FileSegmentFailed",
    "FileSegmentHandle",
    "FileSegmentOutcome",
    "FileSegments",
    "check_csv",
    "check_csv_url",
]
