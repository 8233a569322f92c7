"""Building plugin wheels in tests, as `pip wheel` would, without a network or a build backend.

A wheel is a zip with the package's files and a ``.dist-info`` directory (METADATA, WHEEL,
entry_points.txt, RECORD with a SHA-256 per file): PEP 427. Tests build the example plugin
under ``plugins/example_escalation`` at any version, and damaged variants of it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "example_escalation"
EXAMPLE_PACKAGE = "records_example_escalation"


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(
    name: str = "records-example-escalation",
    version: str = "1.0.0",
    files: dict[str, bytes] | None = None,
    entry_points: dict[str, str] | None = None,
    tag: str = "py3-none-any",
    extra: dict[str, bytes] | None = None,
    record: bool = True,
) -> tuple[str, bytes]:
    """(file name, bytes) of a wheel; ``files`` default to the example plugin's package."""
    if files is None:
        files = {f"{EXAMPLE_PACKAGE}/{p.name}": p.read_bytes() for p in sorted((EXAMPLE / EXAMPLE_PACKAGE).glob("*.py"))}
        files[f"{EXAMPLE_PACKAGE}/__init__.py"] = f'__version__ = "{version}"\n'.encode()
    if entry_points is None:
        entry_points = {"escalation": f"{EXAMPLE_PACKAGE}.plugin"}
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test plugin\n".encode()
    contents[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    if entry_points:
        contents[f"{info}/entry_points.txt"] = ("[records]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())).encode()
    contents.update(extra or {})
    rows = [f"{path},{_hash(data)},{len(data)}" for path, data in contents.items()]
    if record:
        contents[f"{info}/RECORD"] = ("\n".join(rows + [f"{info}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return f"{dist}-{version}-{tag}.whl", buffer.getvalue()
