"""Many creates at once: the batch runner, its quota plan and the journal that resumes it."""

from ._batch import (
    Batch,
    BatchPlan,
    BatchProgress,
    Outcome,
    OutcomeKind,
    create_many,
    load_definitions,
    plan_batch,
)
from ._journal import Journal, JournalEntry, JournalState

__all__ = [
    "Batch",
    "BatchPlan",
    "BatchProgress",
    "Journal",
    "JournalEntry",
    "JournalState",
    "Outcome",
    "OutcomeKind",
    "create_many",
    "load_definitions",
    "plan_batch",
]
