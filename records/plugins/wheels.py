"""Checking a plugin wheel before any of its code runs (PEP 427 / the wheel binary format).

Every check reads the archive, never imports from it: a valid zip within size limits; names
that stay inside the install directory (no absolute paths, ``..``, backslashes, drive letters
or links); no ``.data`` directory (scripts, headers); every file listed in RECORD with a
matching SHA-256 and nothing unlisted; METADATA naming the distribution the file name does;
pure Python (``py3-none-any``) unless the operator allows otherwise; entry points of group
``records``; and top-level modules that would not shadow anything importable already.
``packaging`` parses names, versions and tags exactly as pip does.
"""

from __future__ import annotations

import base64
import configparser
import csv
import hashlib
import importlib.util
import io
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from email.parser import HeaderParser

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from records.errors import PluginPackageInvalid

GROUP = "records"
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
MAX_FILES = 2000
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 200  # compressed → unpacked; beyond it the archive is a zip bomb, not code
# Hooks that take effect only when the service starts, or that hand a plugin the keys: deployed
# with the service, never installed through the API.
NOT_INSTALLABLE_HOOKS = ("records_key_provider",)


@dataclass
class CheckedWheel:
    filename: str
    name: str  # the distribution name as METADATA spells it
    key: str  # canonical (PEP 503) name: the plugin's identity
    version: Version
    sha256: str
    entry_points: dict[str, str]  # entry point name → "module[:attr]"
    top_level: list[str]
    files: dict[str, int] = field(default_factory=dict)  # archive name → size
    summary: str = ""


def _fail(message: str) -> PluginPackageInvalid:
    return PluginPackageInvalid(message, field="wheel")


def _safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    parts = name.rstrip("/").split("/")
    return all(part not in ("", ".", "..") and ":" not in part for part in parts)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def check_wheel(filename: str, data: bytes, *, allow_binary: bool = False, installed_modules: frozenset[str] = frozenset()) -> CheckedWheel:
    """Check ``data`` (the wheel called ``filename``); raise ``PluginPackageInvalid`` naming the problem.

    ``installed_modules`` are top-level modules this plugin's earlier version provides: an
    upgrade may replace them, nothing else may be shadowed."""
    try:
        dist, version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, ValueError) as exc:
        raise _fail(f"not a wheel file name ({exc}); expected name-version-py3-none-any.whl") from None
    if not allow_binary and not any(t.abi == "none" and t.platform == "any" and t.interpreter.startswith("py") for t in tags):
        raise _fail(f"{filename} is not pure Python (py3-none-any); binary plugins are not allowed here")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _fail(f"not a valid zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_FILES:
            raise _fail(f"the wheel holds {len(infos)} files; at most {MAX_FILES}")
        unpacked = sum(i.file_size for i in infos)
        if unpacked > MAX_UNPACKED_BYTES or unpacked > MAX_RATIO * max(len(data), 1):
            raise _fail(f"the wheel unpacks to {unpacked} bytes: too large for its size (zip bomb?)")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise _fail("the wheel lists a file twice")
        for info in infos:
            if not _safe_name(info.filename):
                raise _fail(f"unsafe path in the wheel: {info.filename!r}")
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool recorded no Unix type
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _fail(f"the wheel contains a link or special file: {info.filename!r}")
        candidates = {n.split("/", 1)[0] + "/" for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        if len(candidates) != 1:
            raise _fail("the wheel must contain exactly one .dist-info directory")
        dist_info = candidates.pop()
        if canonicalize_name(dist_info[: -len(".dist-info/")].rsplit("-", 1)[0]) != dist:
            raise _fail(f"the .dist-info directory {dist_info!r} does not match the file name")
        stripped = [n.rstrip("/") for n in names]
        parents = {"/".join(n.split("/")[:i]) for n in stripped for i in range(1, n.count("/") + 1)}
        both = sorted(n for n in names if not n.endswith("/") and n in parents)
        if both:
            raise _fail(f"{both[0]!r} is both a file and a directory in the wheel")
        if not allow_binary:
            native = [n for n in names if n.lower().endswith(NATIVE_SUFFIXES)]
            if native:
                raise _fail(f"the wheel contains compiled code ({native[0]}); binary plugins are not allowed here")
        if any(n.split("/", 1)[0].endswith(".data") for n in names):
            raise _fail("the wheel has a .data directory (scripts, headers, data files); plugins may only ship modules")

        def read(name: str) -> bytes:
            try:
                return archive.read(name)
            except KeyError:
                raise _fail(f"the wheel lacks {name}") from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, ValueError, EOFError, zlib.error) as exc:
                raise _fail(f"cannot read {name} from the wheel: {exc}") from None

        metadata = HeaderParser().parsestr(read(dist_info + "METADATA").decode("utf-8", "replace"))
        meta_name, meta_version = metadata.get("Name"), metadata.get("Version")
        if not meta_name or canonicalize_name(meta_name) != dist:
            raise _fail(f"METADATA names {meta_name!r}, the file name {dist!r}")
        try:
            same_version = meta_version is not None and Version(meta_version) == version
        except InvalidVersion:
            same_version = False
        if not same_version:
            raise _fail(f"METADATA version {meta_version!r} differs from the file name's {version}")

        record_name = dist_info + "RECORD"
        listed: dict[str, str] = {}
        try:
            for row in csv.reader(io.StringIO(read(record_name).decode("utf-8"))):
                if not row:
                    continue
                if len(row) != 3:
                    raise _fail(f"RECORD has a malformed row: {row!r}")
                listed[row[0]] = row[1]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise _fail(f"RECORD is unreadable: {exc}") from None
        files = [i for i in infos if not i.is_dir()]
        for info in files:
            if info.filename == record_name or info.filename.startswith(dist_info + "RECORD."):
                continue  # RECORD cannot hash itself; RECORD.jws/p7s are signatures of it
            expected = listed.get(info.filename)
            if not expected:
                raise _fail(f"{info.filename} is not listed in RECORD with a hash")
            if _record_hash(read(info.filename)) != expected:
                raise _fail(f"{info.filename} does not match its RECORD hash: the wheel was altered")
        missing = set(listed) - {i.filename for i in files}
        if missing:
            raise _fail(f"RECORD lists files the wheel lacks: {', '.join(sorted(missing)[:5])}")

        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names are case-sensitive
        try:
            parser.read_string(read(dist_info + "entry_points.txt").decode("utf-8"))
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise _fail(f"entry_points.txt is unreadable: {exc}") from None
        if not parser.has_section(GROUP) or not parser.items(GROUP):
            raise _fail(f"the wheel declares no entry point in the group {GROUP!r}: it would plug nothing in")
        entry_points = {k.strip(): v.strip() for k, v in parser.items(GROUP)}
        # Directory entries count too: an empty directory unpacked on sys.path is an importable
        # namespace package, as able to shadow a module as a file is.
        top_level = sorted({i.filename.split("/", 1)[0].removesuffix(".py") for i in infos
                            if not i.filename.startswith(dist_info)})
        if not allow_binary:
            wheel_meta = HeaderParser().parsestr(read(dist_info + "WHEEL").decode("utf-8", "replace"))
            if (wheel_meta.get("Root-Is-Purelib") or "").strip().lower() != "true":
                raise _fail("WHEEL says Root-Is-Purelib is not true: not a pure-Python wheel")
            wheel_tags = [t.strip() for t in wheel_meta.get_all("Tag") or []]
            if any(not t.endswith("-none-any") for t in wheel_tags):
                raise _fail(f"WHEEL declares the platform tag {next(t for t in wheel_tags if not t.endswith('-none-any'))}; "
                            "binary plugins are not allowed here")
        for name, target in entry_points.items():
            module = target.split(":", 1)[0].strip()
            if not module or module.split(".")[0] not in top_level:
                raise _fail(f"entry point {name} names {module!r}, which the wheel does not contain")
        for module in top_level:
            if not module.isidentifier():
                raise _fail(f"top-level name {module!r} is not an importable module name")
            try:
                importable = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # e.g. __main__, whose spec is None when run as a script
                importable = True
            if module in ("__main__", "__init__") or (module not in installed_modules and importable):
                raise _fail(f"the wheel's module {module!r} would shadow one the service already imports")
        return CheckedWheel(
            filename=filename, name=meta_name, key=dist, version=version, sha256=hashlib.sha256(data).hexdigest(),
            entry_points=entry_points, top_level=top_level, files={i.filename: i.file_size for i in files},
            summary=(metadata.get("Summary") or "")[:200],
        )
