"""README's shell blocks run as written, in order, against a real server, so README cannot drift.

Conventions README follows (its Tests section says so too):
- A block fenced ```` ```sh ```` is run; ```` ```shell ```` is shown only (it needs Docker or a
  production cluster). Quick start's two blocks are run by `.ci/run`, each on a fresh venv.
- The blocks run in one bash session (`set -euo pipefail`), in a fresh directory holding the
  server's `./records-data`, with `.venv/bin/records` and `.venv/bin/python` of this checkout;
  `127.0.0.1:8000` is replaced by the test server's port.
- A line `# → STATUS` after a curl command states the HTTP status of that command's response; a
  JSON sketch after it (`# → 201 {"status": "accepted", "owner": "alice", …}`) states what the
  body holds: every key shown, with its value unless the value is `"…"`; `…` inside a string
  stands for any text; lists match when each element shown matches an element of the response.
- A curl answered with 4xx or 5xx that README does not announce with `# → 4xx` fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXPECTATION = re.compile(r"^\s*# → (?P<status>\d{3})(?:\s+(?P<sketch>[\[{].*))?$")
ELLIPSIS = "…"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    line: int  # README line of the block's first command
    section: str
    text: str


def readme_blocks(text: str) -> list[Block]:
    """Every ```sh block outside Quick start, in README order."""
    blocks: list[Block] = []
    section, fence, start, body = "", None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is None:
            if line.startswith("## "):
                section = line[3:].strip()
            elif line.startswith("```"):
                fence, start, body = line[3:].strip(), number + 1, []
        elif line.startswith("```"):
            if fence == "sh" and section != "Quick start":
                blocks.append(Block(start, section, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    return blocks


def _instrumented(block: Block, port: int) -> str:
    lines = []
    for offset, line in enumerate(block.text.replace("127.0.0.1:8000", f"127.0.0.1:{port}").splitlines()):
        lines.append(line)
        expected = EXPECTATION.match(line)
        if expected:
            lines.append(f"__expect {expected['status']} {block.line + offset} {shlex.quote(expected['sketch'] or '')}")
    return f"__block {block.line}\n" + "\n".join(lines) + f"\n__settle {block.line}\n"


# Runs before README's blocks: a curl that records the status and body of every response, and
# the checks the instrumented blocks call. Bodies are checked against sketches after the run.
PRELUDE = r"""
set -euo pipefail
curl() {  # also inside $(…) and pipelines, so its count is kept in a file, not a variable
    local __n; __n=$(( $(cat "$__dir/count" 2>/dev/null || echo 0) + 1 )); echo "$__n" >"$__dir/count"
    local rc=0 args=() format='%{stderr}\n@@status=%{http_code}\n' own= output=
    while [ $# -gt 0 ]; do  # README's own -w keeps its output; the status is written after it
        case $1 in
            -w|--write-out) args+=("$1" "$2$format"); own=1; shift 2 ;;
            -o|--output) args+=("$1" "$2"); output=$2; shift 2 ;;
            *) args+=("$1"); shift ;;
        esac
    done
    [ -n "$own" ] || args=(-w "$format" "${args[@]}")
    command curl "${args[@]}" 2>"$__dir/err" | tee "$__dir/body.$__n" || rc=$?
    if [ -n "$output" ] && [ "$output" != /dev/null ] && [ -f "$output" ]; then cp "$output" "$__dir/body.$__n"; fi
    grep -v '^@@status=' "$__dir/err" | sed '/^$/d' >&2 || true
    printf '%s %s\n' "$__n" "$(sed -n 's/^@@status=//p' "$__dir/err" | tail -n 1)" >>"$__dir/statuses"
    return "$rc"
}
__block() { : >"$__dir/statuses"; __at=$1; }
__expect() {
    local last; last=$(tail -n 1 "$__dir/statuses")
    local n=${last% *} status=${last#* }
    if [ "$status" != "$1" ]; then
        printf 'README.md:%s: expected %s, got %s: %s\n' "$2" "$1" "$status" "$(head -c 600 "$__dir/body.$n")" >&2
        exit 1
    fi
    sed -i '$ s/$/ announced/' "$__dir/statuses"
    printf '%s\t%s\t%s\n' "$2" "$__dir/body.$n" "$3" >>"$__dir/sketches"
}
__settle() {
    local n status announced
    while read -r n status announced; do
        if [ "${status:0:1}" != 2 ] && [ "${status:0:1}" != 3 ] && [ -z "$announced" ]; then
            printf 'README.md block at line %s: a curl got %s, which README does not announce: %s\n' \
                "$1" "$status" "$(head -c 600 "$__dir/body.$n")" >&2
            exit 1
        fi
    done <"$__dir/statuses"
}
"""


def _sketch(text: str) -> Any:
    """README's abridged JSON as a value: bare `…` elements (more keys, more items) dropped."""
    text = re.sub(rf":\s*{ELLIPSIS}", f': "{ELLIPSIS}"', text)  # a value not shown
    text = re.sub(rf",\s*{ELLIPSIS}(?=\s*[}}\]])", "", text)
    text = re.sub(rf"(?<=[{{\[])\s*{ELLIPSIS}\s*,?", "", text)
    return json.loads(text)


def mismatch(sketch: Any, actual: Any, at: str = "") -> str | None:
    """Why ``actual`` does not match README's ``sketch``, or None when it does."""
    if isinstance(sketch, dict):
        if not isinstance(actual, dict):
            return f"{at or 'body'} is not an object"
        for key, value in sketch.items():
            if key not in actual:
                return f"{at}{key} is missing"
            problem = mismatch(value, actual[key], f"{at}{key}.")
            if problem:
                return problem
        return None
    if isinstance(sketch, list):
        if not isinstance(actual, list):
            return f"{at or 'body'} is not a list"
        for item in sketch:
            if not any(mismatch(item, candidate, at) is None for candidate in actual):
                return f"no element of {at.rstrip('.') or 'the list'} matches {json.dumps(item, ensure_ascii=False)}"
        return None
    if sketch == ELLIPSIS:
        return None
    if isinstance(sketch, str) and ELLIPSIS in sketch:
        pattern = ".*".join(re.escape(part) for part in sketch.split(ELLIPSIS))
        return None if isinstance(actual, str) and re.fullmatch(pattern, actual, re.S) else \
            f"{at.rstrip('.')} is {json.dumps(actual, ensure_ascii=False)}, README shows {json.dumps(sketch, ensure_ascii=False)}"
    return None if sketch == actual and type(sketch) is type(actual) else \
        f"{at.rstrip('.')} is {json.dumps(actual, ensure_ascii=False)}, README shows {json.dumps(sketch, ensure_ascii=False)}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TourServer:
    url: str
    port: int
    directory: Path


@pytest.fixture(scope="module")
def tour_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TourServer]:
    """`records serve` as README's first command starts it: the default data dir, in a fresh directory."""
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        message = f"README's tour needs {', '.join(missing)} (apt-get install {' '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path_factory.mktemp("readme")
    bin_dir = directory / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, command in (("records", f"{shlex.quote(sys.executable)} -m records"), ("python", shlex.quote(sys.executable))):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECORDS_")}
    port = _free_port()
    server = subprocess.Popen([str(bin_dir / "records"), "serve", "--port", str(port)], cwd=directory, env=env,
                              stdout=subprocess.DEVNULL, stderr=(directory / "server.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"records serve did not come up: {(directory / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield TourServer(url, port, directory)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_readme_has_the_tour_and_both_walk_throughs() -> None:
    sections = {block.section for block in readme_blocks(README.read_text(encoding="utf-8"))}
    assert {"A short tour", "Archivist walk-through", "Compliance walk-through"} <= sections


def test_every_shell_block_of_readme_runs_as_written(tour_server: TourServer) -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    work = tour_server.directory / "run"
    work.mkdir()
    script = PRELUDE + "".join(_instrumented(block, tour_server.port) for block in blocks)
    (work / "readme.sh").write_text(script, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECORDS_")} | {"__dir": str(work)}
    ran = subprocess.run(["bash", str(work / "readme.sh")], check=False, cwd=tour_server.directory, env=env,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, f"README's blocks failed (exit {ran.returncode}):\n{ran.stderr[-4000:]}"
    sketches = (work / "sketches").read_text(encoding="utf-8").splitlines() if (work / "sketches").exists() else []
    assert len(sketches) >= 20, "README announces the responses of its requests with # → STATUS"
    problems = []
    for line, body, sketch in (entry.split("\t", 2) for entry in sketches):
        if sketch:
            try:
                actual = json.loads(Path(body).read_text(encoding="utf-8"))
            except ValueError:
                problems.append(f"README.md:{line}: the response is not JSON, README shows {sketch}")
                continue
            problem = mismatch(_sketch(sketch), actual)
            if problem:
                problems.append(f"README.md:{line}: {problem}")
    assert not problems, "responses no longer match what README shows:\n" + "\n".join(problems)


def test_every_classification_code_readme_names_exists(tour_server: TourServer) -> None:
    token = subprocess.run([str(tour_server.directory / ".venv/bin/records"), "tokens", "create", "--role", "agent",
                            "--name", "readme-classification-check"], cwd=tour_server.directory, capture_output=True,
                           text=True, check=True).stdout.strip()
    schemes = httpx.get(f"{tour_server.url}/api/v1/classification-schemes", headers={"Authorization": f"Bearer {token}"}).json()
    known = {f"{scheme['name']}:{code['code']}" for scheme in schemes["items"] for code in scheme["codes"]}
    named = set(re.findall(rf"\b(?:{'|'.join(re.escape(s['name']) for s in schemes['items'])}):[a-z_]+(?:\.[a-z_]+)*",
                           README.read_text(encoding="utf-8")))
    assert named, "README names classification codes"
    assert not named - known, f"README names codes no shipped scheme has: {sorted(named - known)}"


@pytest.mark.parametrize(("sketch", "actual", "matches"), [
    ('{"status": "accepted", …}', {"status": "accepted", "id": "x"}, True),
    ('{"status": "accepted"}', {"status": "archived"}, False),
    ('{"token": "rec_…", …}', {"token": "rec_abc"}, True),
    ('{"items": [{…, "owner": "carl"}], "next_cursor": "…"}', {"items": [{"owner": "alice"}, {"owner": "bob"}],
                                                                "next_cursor": None}, False),
    ('{"next_cursor": "…"}', {"next_cursor": None}, True),
    ('{"tree_size": …, "path": ["…", …]}', {"tree_size": 3, "path": ["ab", "cd"]}, True),
    ('{"items": [{…, "owner": "bob"}], …}', {"items": [{"owner": "alice"}, {"owner": "bob"}]}, True),
    ('{"version": 1}', {"version": True}, False),
])
def test_a_readme_sketch_matches_what_it_shows(sketch: str, actual: Any, matches: bool) -> None:
    assert (mismatch(_sketch(sketch), actual) is None) is matches
