# Segments as code (issue 15), the offline core. Layout: _errors the typed errors; _graph
# references between items (syntax, caps, cycles, dependency order); _desired the desired-files
# loader; _state the state protocol and its SQLite and memory stores; _quota what a plan costs
# (the one module that uses the governor); _facts the server facts and options the planner
# takes; _plan the pure planner; _planfile the JSON schema, saved plans and the staleness
# check; _record the state rows plan and apply write; _render text and Markdown with
# definition diffs; _export desired items and state rows from a workspace's segments.
"""Segments as code: desired files, the workspace state, and the plan that converges them."""

from ._desired import DesiredItem, DesiredSet, load_desired, parse_desired
from ._errors import (
    DesiredItemError,
    HeadroomExceeded,
    PlanFileError,
    PlanRefused,
    StalePlan,
    StateError,
    StateLocked,
    StateSchemaError,
    WorkspaceError,
)
from ._export import ExportResult, dump_desired, export_workspace
from ._facts import ACTIVE_LIMIT, ActiveSegment, FetchedDefinition, PlanOptions, ServerFacts
from ._graph import (
    DEFAULT_MAX_NESTING,
    DEFAULT_MAX_REFERENCE_DEPTH,
    DEFAULT_MAX_REFERENCES,
    REFERENCE_FIELD,
)
from ._plan import (
    Plan,
    PlanStep,
    StepKind,
    plan_fingerprint,
    plan_workspace,
)
from ._planfile import (
    PLAN_FORMAT,
    PLAN_VERSION,
    check_fresh,
    load_plan,
    plan_from_json,
    plan_to_json,
    save_plan,
)
from ._quota import QuotaCost, quota_costs, sliding_window_eta
from ._record import row_after, verified_row
from ._render import definition_diff, format_duration, render_markdown, render_text
from ._state import (
    DEFAULT_STATE_PATH,
    SCHEMA_VERSION,
    MemoryState,
    SQLiteState,
    StateRow,
    StateSnapshot,
    StateStore,
)

__all__ = [
    "ACTIVE_LIMIT",
    "ActiveSegment",
    "check_fresh",
    "DEFAULT_MAX_NESTING",
    "DEFAULT_MAX_REFERENCE_DEPTH",
    "DEFAULT_MAX_REFERENCES",
    "DEFAULT_STATE_PATH",
    "definition_diff",
    "DesiredItem",
    "DesiredItemError",
    "DesiredSet",
    "dump_desired",
    "export_workspace",
    "ExportResult",
    "FetchedDefinition",
    "format_duration",
    "HeadroomExceeded",
    "load_desired",
    "load_plan",
    "MemoryState",
    "parse_desired",
    "Plan",
    "plan_fingerprint",
    "PLAN_FORMAT",
    "plan_from_json",
    "plan_to_json",
    "PLAN_VERSION",
    "plan_workspace",
    "PlanFileError",
    "PlanOptions",
    "PlanRefused",
    "PlanStep",
    "quota_costs",
    "QuotaCost",
    "REFERENCE_FIELD",
    "render_markdown",
    "render_text",
    "row_after",
    "save_plan",
    "SCHEMA_VERSION",
    "ServerFacts",
    "sliding_window_eta",
    "SQLiteState",
    "StalePlan",
    "StateError",
    "StateLocked",
    "StateRow",
    "StateSchemaError",
    "StateSnapshot",
    "StateStore",
    "StepKind",
    "verified_row",
    "WorkspaceError",
]
