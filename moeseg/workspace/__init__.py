# Segments as code (issue 15), the offline core. Layout: _errors the typed errors; _graph
# references between items (syntax, caps, cycles, dependency order); _desired the desired-files
# loader; _state the state protocol and its SQLite and memory stores; _quota what a plan costs
# (the one module that uses the governor); _facts the server facts and options the planner
# takes; _plan the pure planner; _planfile the JSON schema, saved plans and the staleness
# check; _render text and Markdown with definition diffs.
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
from ._facts import ActiveSegment, FetchedDefinition, PlanOptions, ServerFacts
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
    "ActiveSegment",
    "DEFAULT_MAX_NESTING",
    "DEFAULT_MAX_REFERENCE_DEPTH",
    "DEFAULT_MAX_REFERENCES",
    "DEFAULT_STATE_PATH",
    "DesiredItem",
    "DesiredItemError",
    "DesiredSet",
    "FetchedDefinition",
    "HeadroomExceeded",
    "MemoryState",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "Plan",
    "PlanFileError",
    "PlanOptions",
    "PlanRefused",
    "PlanStep",
    "QuotaCost",
    "REFERENCE_FIELD",
    "SCHEMA_VERSION",
    "SQLiteState",
    "ServerFacts",
    "StalePlan",
    "StateError",
    "StateLocked",
    "StateRow",
    "StateSchemaError",
    "StateSnapshot",
    "StateStore",
    "StepKind",
    "WorkspaceError",
    "check_fresh",
    "definition_diff",
    "format_duration",
    "load_desired",
    "load_plan",
    "parse_desired",
    "plan_fingerprint",
    "plan_from_json",
    "plan_to_json",
    "plan_workspace",
    "quota_costs",
    "render_markdown",
    "render_text",
    "save_plan",
    "sliding_window_eta",
]
