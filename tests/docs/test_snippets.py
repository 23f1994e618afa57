"""Every fenced ``python`` block of README.md and docs/**/*.md runs, each on its own.

A block runs in a fresh namespace (top-level ``await`` allowed, on asyncio), in an empty working
directory, against a sandbox served on loopback for the session. The fixture hands it a
workspace of its own through the environment variables a user would set
(``MOENGAGE_WORKSPACE_ID``, ``MOENGAGE_API_KEY``, ``MOENGAGE_BASE_URL``, ``MOENGAGE_DB_NAME``), so
blocks share no quota, no segment and no governor. File downloads from
``https://files.example.com/NAME`` are served from the block's working directory.

A block that is deliberately not runnable carries ``<!-- not-run: reason -->`` on the line
before its fence: it is still compiled, then skipped with that reason.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.from_thread
import attrs
import httpx
import pytest

from moeseg.sandbox import Sandbox, SandboxConfig, WorkspaceCredentials

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.+?)\s*-->$")
FILES_HOST = "files.example.com"


@attrs.frozen
class Snippet:
    page: Path
    line: int  # of the first line of code
    code: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def collect(page: Path) -> Iterator[Snippet]:
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith("```"):
            fence, start = lines[i].strip(), i
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            if fence == "```python":
                marker = NOT_RUN.match(lines[start - 1].strip()) if start else None
                code = "\n".join(lines[start + 1 : end]) + "\n"
                yield Snippet(page, start + 2, code, marker["reason"] if marker else None)
            i = end
        i += 1


SNIPPETS = [s for page in PAGES for s in collect(page)]


def test_the_docs_have_snippets_and_every_marker_sits_on_a_python_fence() -> None:
    assert len(SNIPPETS) >= 10
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if line.strip().startswith("<!-- not-run"):
                assert NOT_RUN.match(line.strip()), (
                    f"{page.name}:{n + 1}: say why: <!-- not-run: reason -->"
                )
                following = lines[n + 1].strip() if n + 1 < len(lines) else ""
                assert following == "```python", f"{page.name}:{n + 1}: marker before no fence"
            assert not re.match(r"^\s*```(py|python3|pycon)\s*$", line), (
                f"{page.name}:{n + 1}: write ```python so that the block is tested"
            )


class FileHost(httpx.AsyncBaseTransport):
    """The sandbox's downloads and callbacks: ``https://files.example.com/NAME`` is the file
    NAME of the running block's working directory; anything else must be loopback."""

    def __init__(self) -> None:
        self.root = ROOT

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == FILES_HOST:
            path = anyio.Path(self.root) / request.url.path.lstrip("/")
            if await path.is_file():
                return httpx.Response(200, content=await path.read_bytes())
            return httpx.Response(404)
        if request.url.host not in ("127.0.0.1", "localhost", "::1"):
            return httpx.Response(502)
        async with httpx.AsyncHTTPTransport() as http:  # one connection, closed at once
            answer = await http.handle_async_request(request)
            content = await answer.aread()
        return httpx.Response(answer.status_code, content=content)


@attrs.frozen
class Served:
    sandbox: Sandbox
    base_url: str
    files: FileHost


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    workspaces = tuple(
        WorkspaceCredentials(f"DOCS_{i}", f"docs-key-{i}", f"docs_db_{i}")
        for i in range(len(SNIPPETS))
    )
    files = FileHost()
    sandbox = Sandbox(SandboxConfig(workspaces=workspaces, fetch_transport=files))
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(sandbox.serve(port=0)) as base_url,
    ):
        yield Served(sandbox, base_url, files)


@pytest.fixture
def user_env(
    request: pytest.FixtureRequest,
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> WorkspaceCredentials:
    """What a user has set: one workspace of the sandbox, an empty working directory."""
    ws = served.sandbox.config.workspaces[SNIPPETS.index(request.node.callspec.params["snippet"])]
    for name in ("MOENGAGE_DC", "MOENGAGE_APP_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", ws.workspace_id)
    monkeypatch.setenv("MOENGAGE_API_KEY", ws.api_key)
    monkeypatch.setenv("MOENGAGE_BASE_URL", served.base_url)
    monkeypatch.setenv("MOENGAGE_DB_NAME", ws.db_name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(served.files, "root", tmp_path)
    return ws


def compiled(snippet: Snippet) -> object:
    tree = ast.parse(snippet.code, filename=str(snippet.page))
    ast.increment_lineno(tree, snippet.line - 1)  # tracebacks point into the page
    return compile(
        tree, str(snippet.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


@pytest.mark.timeout(60)
# A snippet that leans on a deprecated spelling teaches users what is going away.
@pytest.mark.filterwarnings("error::DeprecationWarning")
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_snippet_runs(snippet: Snippet, user_env: WorkspaceCredentials) -> None:
    code = compiled(snippet)
    if snippet.not_run is not None:
        pytest.skip(f"not-run: {snippet.not_run}")
    namespace: dict[str, object] = {"__name__": "__main__"}
    assert isinstance(code, type(compiled.__code__))
    if code.co_flags & inspect.CO_COROUTINE:

        async def main() -> None:
            await eval(code, namespace)

        anyio.run(main)
    else:
        exec(code, namespace)
