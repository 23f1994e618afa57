# Segments as code (issue 15). Layout: _errors the typed errors; _graph references between
# items (syntax, caps, cycles, dependency order); _desired the desired-files loader; _state the
# state protocol and its SQLite and memory stores; _quota what a plan costs; _facts the server
# facts and options the planner takes; _plan the pure planner; _planfile the JSON schema, saved
# plans and the staleness check; _record the state rows plan and apply write; _render text and
# Markdown with definition diffs; _export desired items and state rows from a workspace's
# segments. Online, through a moeseg.Client: _fetch the server facts (one list, GETs due);
# _apply the applier; _session plan/apply/export/diff end to end; _redis_state the state in
# Redis. The public face is moeseg.workspace.
"""Segments as code: desired files, the workspace state, and the plan that converges them."""

from ._desired import load_desired
from ._errors import (
    DesiredItemError,
    HeadroomExceeded,
    StalePlan,
    StateLocked,
    WorkspaceError,
)
from ._export import export_workspace
from ._facts import PlanOptions, ServerFacts
from ._plan import Plan, PlanStep, plan_workspace
from ._planfile import load_plan, save_plan
from ._render import render_markdown, render_text
from ._state import SQLiteState, StateStore

__all__ = [
    "DesiredItemError",
    "export_workspace",
    "HeadroomExceeded",
    "load_desired",
    "load_plan",
    "Plan",
    "plan_workspace",
    "PlanOptions",
    "PlanStep",
    "render_markdown",
    "render_text",
    "save_plan",
    "ServerFacts",
    "SQLiteState",
    "StalePlan",
    "StateLocked",
    "StateStore",
    "WorkspaceError",
]

# The online part: the applier and the sessions that list, fetch, plan, apply, export, diff.
from ._apply import ApplyProgress as ApplyProgress
from ._apply import ApplyResult as ApplyResult
from ._apply import StepOutcome as StepOutcome
from ._apply import apply_plan as apply_plan
from ._apply import check_applicable as check_applicable

# The rest of the package, importable by moeseg's other packages (the CLI, the applier)
# and by tests; not part of the public API (issue 14 counts public names): explicit re-exports.
from ._desired import DesiredItem as DesiredItem
from ._desired import DesiredSet as DesiredSet
from ._desired import parse_desired as parse_desired
from ._errors import PlanFileError as PlanFileError
from ._errors import PlanRefused as PlanRefused
from ._errors import StateError as StateError
from ._errors import StateSchemaError as StateSchemaError
from ._export import ExportResult as ExportResult
from ._export import dump_desired as dump_desired
from ._export import export_keys as export_keys
from ._facts import ACTIVE_LIMIT as ACTIVE_LIMIT
from ._facts import DAY as DAY
from ._facts import ActiveSegment as ActiveSegment
from ._facts import FetchedDefinition as FetchedDefinition
from ._fetch import FetchProgress as FetchProgress
from ._fetch import facts_from as facts_from
from ._fetch import fetch_definitions as fetch_definitions
from ._fetch import governor_costs as governor_costs
from ._fetch import read_snapshot as read_snapshot
from ._fetch import state_io as state_io
from ._graph import DEFAULT_MAX_NESTING as DEFAULT_MAX_NESTING
from ._graph import DEFAULT_MAX_REFERENCE_DEPTH as DEFAULT_MAX_REFERENCE_DEPTH
from ._graph import DEFAULT_MAX_REFERENCES as DEFAULT_MAX_REFERENCES
from ._graph import REFERENCE_FIELD as REFERENCE_FIELD
from ._plan import StepKind as StepKind
from ._plan import plan_fingerprint as plan_fingerprint
from ._planfile import PLAN_FORMAT as PLAN_FORMAT
from ._planfile import PLAN_VERSION as PLAN_VERSION
from ._planfile import check_fresh as check_fresh
from ._planfile import plan_from_json as plan_from_json
from ._planfile import plan_to_json as plan_to_json
from ._quota import QuotaCost as QuotaCost
from ._quota import quota_costs as quota_costs
from ._quota import sliding_window_eta as sliding_window_eta
from ._record import row_after as row_after
from ._record import verified_row as verified_row
from ._redis_state import RedisState as RedisState
from ._redis_state import is_redis_url as is_redis_url
from ._render import definition_diff as definition_diff
from ._render import format_duration as format_duration
from ._session import Drift as Drift
from ._session import Paths as Paths
from ._session import apply_session as apply_session
from ._session import diff_session as diff_session
from ._session import export_session as export_session
from ._session import plan_session as plan_session
from ._session import read_desired as read_desired
from ._state import DEFAULT_STATE_PATH as DEFAULT_STATE_PATH
from ._state import SCHEMA_VERSION as SCHEMA_VERSION
from ._state import MemoryState as MemoryState
from ._state import StateRow as StateRow
from ._state import StateSnapshot as StateSnapshot
