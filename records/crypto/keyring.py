"""The keyring: key-encryption keys (KEKs) that wrap every record's data key, the blind-index
key, and the register of destroyed data keys.

On the embedded default the keyring is a JSON file under ``<data dir>/keyring/`` (directory
0700, file 0600), written atomically. When ``RECORDS_MASTER_KEY`` is set, every secret in the
file is itself sealed under that master key, so the file alone reveals nothing. Backups never
include the keyring: a backup is ciphertext only, and the live register of destroyed keys is
what a restore is checked against (see ``records.crypto.shredding``).

A KEK goes through ``active`` (wraps new data keys) → ``retiring`` (only unwraps, while a
rotation moves its data keys to the new KEK) → ``retired`` (material erased once no data key
uses it). Processes sharing the data dir (server and CLI) notice each other's changes because
the file is re-read whenever it changed on disk.
"""

from __future__ import annotations

import base64
import fcntl
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from records.clock import to_text, utcnow
from records.durable import write_atomically
from records.errors import InvalidConfiguration, KeyUnavailable

KEYRING_FORMAT = 1


@dataclass(frozen=True, slots=True)
class KekInfo:
    kek_id: str
    state: str  # active | retiring | retired
    created_at: str


class KeyEncryptionKeys(Protocol):
    """What envelope encryption needs from a key provider: the local keyring, or a KMS, Vault
    transit or an HSM through the ``records_key_provider`` hook."""

    def active_kek_id(self) -> str:
        """The KEK that wraps new data keys."""

    def wrap(self, kek_id: str, data_key: bytes, associated_data: bytes) -> bytes:
        """Wrap ``data_key`` under ``kek_id`` (which must be active), binding ``associated_data``."""

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        """Raise ``KeyUnavailable`` when the KEK is gone or the wrapping fails its integrity check."""

    def keks(self) -> list[KekInfo]:
        """Every KEK known, with its state (active, retiring, retired)."""

    def begin_rotation(self) -> str:
        """Make a new KEK active and the previous ones retiring; return the new KEK's id."""

    def retire(self, kek_id: str) -> None:
        """Destroy a retiring KEK once no data key uses it."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def parse_master_key(value: str) -> bytes:
    """RECORDS_MASTER_KEY: 32 random bytes, base64 encoded (``openssl rand -base64 32``)."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except ValueError:
        raise InvalidConfiguration("RECORDS_MASTER_KEY must be base64 (e.g. `openssl rand -base64 32`)") from None
    if len(key) != 32:
        raise InvalidConfiguration(f"RECORDS_MASTER_KEY must decode to 32 bytes, not {len(key)}")
    return key


def audit_key_id(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw public key."""
    import hashlib

    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


class LocalKeyring:
    """KEKs and the blind-index key in a file; thread-safe; re-read when changed on disk."""

    FILE = "keyring.json"

    def __init__(self, directory: Path, master_key: bytes | None = None) -> None:
        self.directory = directory
        self.path = directory / self.FILE
        self._master = AESGCM(master_key) if master_key else None
        self._lock = threading.RLock()
        self._stamp: tuple[int, int] | None = None
        self._doc: dict = {}
        self._keks: dict[str, AESGCM] = {}
        self._index_key = b""

    # --- opening and persistence -------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, master_key: bytes | None = None) -> LocalKeyring:
        """Open the keyring, creating it (with a first KEK and an index key) on first use."""
        keyring = cls(directory, master_key)
        with keyring._lock:
            if not keyring.path.exists():
                try:
                    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                except OSError as exc:
                    raise KeyUnavailable(f"cannot create the keyring directory {directory}: {exc.strerror}") from None
                with keyring._file_lock():
                    if not keyring.path.exists():  # another process may have won the race
                        keyring._create()
            keyring._load()
        return keyring

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Serialise changes across processes (server, CLI): re-read, change and save under it,
        so two rotations cannot overwrite each other and lose a KEK."""
        handle = (self.directory / ".lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            handle.close()

    def _create(self) -> None:
        kek_id = self._new_kek_id()
        self._doc = {
            "format": KEYRING_FORMAT,
            "protected_by_master_key": self._master is not None,
            "active": kek_id,
            "keks": {kek_id: {"state": "active", "created_at": to_text(utcnow()), "material": self._seal(kek_id, secrets.token_bytes(32))}},
            "index_key": self._seal("index", secrets.token_bytes(32)),
        }
        self._save()

    def _seal(self, name: str, secret: bytes) -> str:
        if self._master is None:
            return _b64(secret)
        nonce = secrets.token_bytes(12)
        return "sealed:" + _b64(nonce + self._master.encrypt(nonce, secret, f"keyring|{name}".encode()))

    def _unseal(self, name: str, text: str) -> bytes:
        if text.startswith("sealed:"):
            if self._master is None:
                raise KeyUnavailable("the keyring is protected by a master key: set RECORDS_MASTER_KEY")
            raw = _unb64(text.removeprefix("sealed:"))
            try:
                return self._master.decrypt(raw[:12], raw[12:], f"keyring|{name}".encode())
            except InvalidTag:
                raise KeyUnavailable("RECORDS_MASTER_KEY does not open this keyring (wrong master key?)") from None
        if self._master is not None:
            raise KeyUnavailable(
                "RECORDS_MASTER_KEY is set but this keyring was created without one; unset it, or start a new data dir"
            )
        return _unb64(text)

    def _save(self) -> None:
        """Write atomically and durably: temp file (0600), fsync, rename, fsync directory."""
        try:
            write_atomically(self.path, json.dumps(self._doc, indent=2, sort_keys=True).encode())
        except OSError as exc:
            raise KeyUnavailable(f"cannot write the keyring {self.path}: {exc.strerror}") from None
        self._remember_stamp()

    def _remember_stamp(self) -> None:
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_bytes())
            self._remember_stamp()
        except (OSError, ValueError) as exc:
            raise KeyUnavailable(f"cannot read the keyring {self.path}: {exc}") from None
        if doc.get("format") != KEYRING_FORMAT:
            raise KeyUnavailable(f"keyring {self.path} has an unknown format {doc.get('format')!r}")
        self._doc = doc
        self._keks = {
            kek_id: AESGCM(self._unseal(kek_id, entry["material"]))
            for kek_id, entry in doc["keks"].items()
            if entry["state"] != "retired"
        }
        self._index_key = self._unseal("index", doc["index_key"])

    def refresh(self) -> None:
        """Re-read the file if another process changed it (cheap: one stat)."""
        with self._lock:
            try:
                st = self.path.stat()
            except OSError as exc:
                raise KeyUnavailable(f"the keyring {self.path} is gone: {exc.strerror}") from None
            if (st.st_mtime_ns, st.st_size) != self._stamp:
                self._load()

    @staticmethod
    def _new_kek_id() -> str:
        return f"kek-{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"

    # --- KeyEncryptionKeys -------------------------------------------------------------------

    def active_kek_id(self) -> str:
        self.refresh()
        return self._doc["active"]

    def wrap(self, kek_id: str, data_key: bytes, associated_data: bytes) -> bytes:
        with self._lock:
            # Always re-check (one stat): another process may have rotated since we last looked,
            # and a key wrapped by a retiring KEK could outlive that KEK.
            self.refresh()
            entry = self._doc["keks"].get(kek_id)
            if entry is None or entry["state"] != "active":
                raise KeyUnavailable(f"KEK {kek_id} is not active; wrap with {self._doc['active']}")
            nonce = secrets.token_bytes(12)
            return nonce + self._keks[kek_id].encrypt(nonce, data_key, associated_data)

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        with self._lock:
            if kek_id not in self._keks:
                self.refresh()
            kek = self._keks.get(kek_id)
        if kek is None:
            raise KeyUnavailable(f"KEK {kek_id} is not in the keyring (retired, or a keyring from elsewhere)")
        try:
            return kek.decrypt(wrapped[:12], wrapped[12:], associated_data)
        except InvalidTag:
            raise KeyUnavailable(f"a data key wrapped by {kek_id} failed its integrity check") from None

    # --- audit checkpoint signing ----------------------------------------------------------

    def audit_signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """The Ed25519 key that signs audit checkpoints, created on first use: (key id, key)."""
        with self._lock:
            self.refresh()
            if self._doc.get("audit_signing_key") is None:
                with self._file_lock():
                    self._load()  # another process may have created it meanwhile
                    if self._doc.get("audit_signing_key") is None:
                        private = Ed25519PrivateKey.generate()
                        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
                        key_id = audit_key_id(private.public_key())
                        self._doc["audit_signing_key"] = key_id
                        self._doc.setdefault("audit_keys", {})[key_id] = {
                            "created_at": to_text(utcnow()),
                            "public": _b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)),
                            "private": self._seal(f"audit:{key_id}", raw),
                        }
                        self._save()
            current = self._doc["audit_signing_key"]
            entry = self._doc["audit_keys"][current]
            return current, Ed25519PrivateKey.from_private_bytes(self._unseal(f"audit:{current}", entry["private"]))

    def audit_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every key that ever signed checkpoints, by key id (old ones stay for verification)."""
        self.refresh()
        return {
            key_id: Ed25519PublicKey.from_public_bytes(_unb64(entry["public"]))
            for key_id, entry in self._doc.get("audit_keys", {}).items()
        }

    # --- blind index and rotation --------------------------------------------------------------

    @property
    def index_key(self) -> bytes:
        return self._index_key

    def keks(self) -> list[KekInfo]:
        self.refresh()
        return [KekInfo(k, e["state"], e["created_at"]) for k, e in sorted(self._doc["keks"].items(), key=lambda i: i[1]["created_at"])]

    def begin_rotation(self) -> str:
        """Add a new active KEK; every other unretired KEK becomes ``retiring``. Durable on return."""
        with self._lock, self._file_lock():
            self._load()
            kek_id = self._new_kek_id()
            for entry in self._doc["keks"].values():
                if entry["state"] == "active":
                    entry["state"] = "retiring"
            self._doc["keks"][kek_id] = {
                "state": "active",
                "created_at": to_text(utcnow()),
                "material": self._seal(kek_id, secrets.token_bytes(32)),
            }
            self._doc["active"] = kek_id
            self._save()
            self._load()
            return kek_id

    def retire(self, kek_id: str) -> None:
        """Erase a retiring KEK's material. Callers first prove that no data key uses it."""
        with self._lock, self._file_lock():
            self._load()
            entry = self._doc["keks"][kek_id]
            if entry["state"] != "retiring":
                raise KeyUnavailable(f"KEK {kek_id} is {entry['state']}, not retiring")
            entry["state"] = "retired"
            entry["material"] = ""
            entry["retired_at"] = to_text(utcnow())
            self._save()
            self._load()




def published_audit_keys(directory: Path) -> dict[str, Ed25519PublicKey]:
    """The audit public keys of the keyring in ``directory``, by key id, read without its master
    key (they are public): what ``records retention verify-certificate`` trusts by default.
    Raises ``KeyUnavailable`` when there is no readable keyring."""
    path = directory / LocalKeyring.FILE
    try:
        doc = json.loads(path.read_bytes())
        return {key_id: Ed25519PublicKey.from_public_bytes(_unb64(entry["public"]))
                for key_id, entry in doc.get("audit_keys", {}).items()}
    except FileNotFoundError:
        raise KeyUnavailable(f"no keyring at {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyUnavailable(f"cannot read the audit keys of the keyring {path}: {type(exc).__name__}") from None
