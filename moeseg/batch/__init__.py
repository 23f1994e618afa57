"""Many creates at once: the batch runner, its quota plan and the journal that resumes it."""

# Reading batch files lives with the definitions; kept here too for ``moeseg.batch`` users.
from ..segments import load_definitions
from ._journal import Journal
from ._journal import JournalEntry as JournalEntry
from ._journal import JournalState as JournalState
from ._outcomes import BatchProgress, Outcome, OutcomeKind
from ._plan import BatchPlan as BatchPlan
from ._plan import plan_batch
from ._runner import Batch, create_many

__all__ = [
    "Batch",
    "BatchProgress",
    "Journal",
    "Outcome",
    "OutcomeKind",
    "create_many",
    "load_definitions",
    "plan_batch",
]

# Importable from here (explicit re-exports), kept out of the counted public names: the typed
# journal error (a ConfigurationError), the stop reasons, the plan's parts, and the local check
# the command line's ``validate`` uses.
from ._journal import JournalError as JournalError
from ._outcomes import ProgressCallback as ProgressCallback
from ._plan import ACTIVE_SEGMENT_LIMIT as ACTIVE_SEGMENT_LIMIT
from ._plan import Milestone as Milestone
from ._plan import governor_of as governor_of
from ._prepare import BatchItem as BatchItem
from ._prepare import PreparedBatch as PreparedBatch
from ._prepare import prepare_batch as prepare_batch
from ._runner import LIMIT_REACHED as LIMIT_REACHED
from ._runner import STOPPED as STOPPED
