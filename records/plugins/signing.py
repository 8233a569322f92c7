"""Publisher keys and wheel signatures: raw Ed25519 over the wheel file's bytes.

Ed25519 (from ``cryptography``) because signatures are small, verification is fast and there
are no parameters to get wrong. Public keys travel as PEM SubjectPublicKeyInfo, what
``openssl pkey -pubout`` and ``records plugins keygen`` write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from records.errors import InvalidInput

MAX_PEM_CHARS = 4096


def load_public_key(pem: str) -> Ed25519PublicKey:
    if not isinstance(pem, str) or len(pem) > MAX_PEM_CHARS or "BEGIN PUBLIC KEY" not in pem:
        raise InvalidInput("public_key must be an Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----)", field="public_key")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm, TypeError):
        raise InvalidInput("public_key is not a readable PEM public key", field="public_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("public_key must be an Ed25519 key; other algorithms are not accepted", field="public_key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidInput("the key file is not an unencrypted PEM private key", field="key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput("the key file must hold an Ed25519 private key", field="key")
    return key


def new_private_key_pem() -> tuple[bytes, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return private, public_pem(key.public_key())


def sign(key: Ed25519PrivateKey, wheel: bytes) -> str:
    return base64.b64encode(key.sign(wheel)).decode()


def decode_signature(text: str | bytes) -> bytes:
    try:
        raw = base64.b64decode(text.strip() if isinstance(text, (str, bytes)) else b"", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("signature must be the base64 of a raw 64-byte Ed25519 signature", field="signature") from None
    if len(raw) != 64:
        raise InvalidInput("signature must be the base64 of a raw 64-byte Ed25519 signature", field="signature")
    return raw


def verifies(key: Ed25519PublicKey, signature: bytes, wheel: bytes) -> bool:
    try:
        key.verify(signature, wheel)
    except InvalidSignature:
        return False
    return True
