"""Read every example payload out of the API documents in shared/reference, at test time.

shared/ sits beside the repo checkout (this project's CI clones the repo with shared/ next to
it); in a git worktree the checkout that owns the repository is looked at too. The documents are
not part of the repository, so on a plain clone the tests that read them are skipped, saying
why. With ``MOESEG_REQUIRE_SHARED=1`` (set by ``.ci/run``) a missing folder is a failure
instead: there these tests are the proof that the models speak the documented format.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _candidates() -> Iterator[Path]:
    yield REPO / ".." / "shared"
    git = REPO / ".git"
    if git.is_file():  # a worktree: ".git" names <main checkout>/.git/worktrees/<name>
        gitdir = Path(git.read_text().split("gitdir:", 1)[1].strip())
        yield gitdir.parents[2] / ".." / "shared"


def shared_dir() -> Path:
    for path in _candidates():
        if (path / "reference").is_dir():
            return path.resolve()
    tried = ", ".join(str(p) for p in _candidates())
    missing = f"shared/reference not found beside the repo (tried {tried})"
    if os.environ.get("MOESEG_REQUIRE_SHARED") == "1":
        raise FileNotFoundError(f"{missing}; MOESEG_REQUIRE_SHARED=1 requires it")
    # at collection time (a parametrize list) this skips the module, in a test the test
    pytest.skip(
        f"{missing}: MoEngage's API documents are not part of the repository "
        "(set MOESEG_REQUIRE_SHARED=1 to make this a failure)",
        allow_module_level=True,
    )


def reference_dir() -> Path:
    return shared_dir() / "reference"


# -- OpenAPI documents ------------------------------------------------------------------------


@functools.cache
def _openapi_document(filename: str) -> Any:
    # Parsed once per session: the suite asks for the same documents from many modules.
    return yaml.load((reference_dir() / filename).read_text(), Loader=yaml.CSafeLoader)


def openapi_examples(filename: str) -> list[tuple[str, Any]]:
    """Every object-valued ``example`` / ``examples.*.value`` in an OpenAPI file, with its path
    (copies: a test may change what it gets)."""
    doc = copy.deepcopy(_openapi_document(filename))
    found: list[tuple[str, Any]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}/{key}"
                if key == "example" and isinstance(value, dict):
                    found.append((here, value))
                elif key == "examples" and isinstance(value, dict):
                    for name, ex in value.items():
                        if isinstance(ex, dict) and isinstance(ex.get("value"), dict):
                            found.append((f"{here}/{name}", ex["value"]))
                else:
                    walk(value, here)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(doc, "")
    return found


# -- the founding text documents ------------------------------------------------------------

# The create document writes placeholders where a number goes ("actual_count": actual_count).
_PLACEHOLDER = re.compile(r"(:\s*)([A-Za-z_]\w*)(\s*[,}\n])")


def _fill_placeholders(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(2) in ("true", "false", "null"):
            return m.group(0)
        return f"{m.group(1)}1{m.group(3)}"

    return _PLACEHOLDER.sub(repl, text)


def _balanced_objects(text: str) -> Iterator[tuple[int, str]]:
    """Top-level ``{...}`` blocks that start a line, with their offsets."""
    i = 0
    while True:
        start = text.find("\n{", i)
        if start < 0:
            return
        depth, in_str, esc = 0, False, False
        for j in range(start + 1, len(text)):
            ch = text[j]
            if in_str:
                esc = (ch == "\\") and not esc
                if ch == '"' and not esc:
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield start + 1, text[start + 1 : j + 1]
                    i = j + 1
                    break
        else:
            return


def seed_create_examples() -> list[tuple[str, Any]]:
    """The curl request body, the field examples (execution, primary_time_range) and every
    sample response of the create document. One-line blocks are header examples, not bodies."""
    text = (reference_dir() / "seed-create-filter-segment-api.txt").read_text()
    out: list[tuple[str, Any]] = []
    m = re.search(r"--data-raw '(.*?)'\n", text, re.S)
    assert m, "curl request body not found"
    out.append(("curl --data-raw", json.loads(m.group(1))))
    for offset, block in _balanced_objects(text):
        if "\n" not in block or m.start(1) <= offset < m.end(1):
            continue
        line = text.count("\n", 0, offset) + 1
        out.append((f"line {line}", json.loads(_fill_placeholders(block))))
    return out


_KEY_LINE = re.compile(r'^\s*"(\w+)":\s*(.+?),?\s*$')


def _fragments(section: str) -> list[dict[str, Any]]:
    """The legacy document prints bodies as bare ``"key": value`` lines, one body after another,
    each starting with ``"status"`` (braces and some commas lost in transcription)."""
    bodies: list[dict[str, Any]] = []
    for line in section.splitlines():
        m = _KEY_LINE.match(line)
        if not m:
            continue
        key, raw = m.group(1), m.group(2)
        if key == "status" or not bodies:
            bodies.append({})
        bodies[-1][key] = json.loads(raw)
    return bodies


def seed_legacy_examples() -> dict[str, list[dict[str, Any]]]:
    """Request, immediate responses and callback bodies of the deprecated CSV API."""
    text = (reference_dir() / "seed-legacy-csv-segment-api.txt").read_text()
    m = re.search(r"-d '(\{.*?\})'", text, re.S)
    assert m, "legacy curl request body not found"
    responses = text.split("API Sample Response", 1)[1].split("Callback Sample Body", 1)
    return {
        "request": [json.loads(m.group(1))],
        "response": _fragments(responses[0]),
        "callback": _fragments(responses[1]),
    }
