"""Many creates at once: the batch runner, its quota plan and the journal that resumes it."""

# Reading batch files lives with the definitions; kept here too for ``moeseg.batch`` users.
from ..segments import load_definitions
from ._journal import Journal, JournalEntry, JournalError, JournalState
from ._outcomes import BatchProgress, Outcome, OutcomeKind, ProgressCallback
from ._plan import ACTIVE_SEGMENT_LIMIT, BatchPlan, Milestone, governor_of, plan_batch
from ._prepare import BatchItem, PreparedBatch, prepare_batch
from ._runner import LIMIT_REACHED, STOPPED, Batch, create_many

__all__ = [
    "ACTIVE_SEGMENT_LIMIT",
    "LIMIT_REACHED",
    "STOPPED",
    "Batch",
    "BatchItem",
    "BatchPlan",
    "BatchProgress",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalState",
    "Milestone",
    "Outcome",
    "OutcomeKind",
    "PreparedBatch",
    "ProgressCallback",
    "create_many",
    "governor_of",
    "load_definitions",
    "plan_batch",
    "prepare_batch",
]
