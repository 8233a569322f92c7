"""Authenticated streaming encryption of attachment bytes: AES-256-GCM in the STREAM construction.

An attachment of any size is encrypted and decrypted in bounded memory (about two segments),
and decryption detects any altered byte and any truncated, reordered, duplicated or dropped
segment, as well as data appended after the end. The construction is STREAM (Hoang,
Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
Misuse-Resistance", CRYPTO 2015), as used by age and by Tink's streaming AEAD: the plaintext is
cut into segments, each sealed with an AEAD under a nonce made of a per-stream random prefix, the
segment's position and a flag marking the last segment.

It is built here on ``AESGCM`` from pyca/cryptography because that library has no streaming
AEAD, and Tink (which has one) would add a large native dependency for this one feature.

Format (all integers big-endian)::

    header    = b"RECSTRM1" || version (1 byte, 0x01) || segment_size (4 bytes) || prefix (7 bytes)
    segment i = AESGCM(key).encrypt(nonce, plaintext_i, header || associated_data)
    nonce     = prefix || i (4 bytes) || last (1 byte: 0x01 on the last segment, else 0x00)
    stream    = header || segment 0 || segment 1 || ... || segment n-1

``prefix`` is 7 random bytes per stream (``os.urandom``). Each sealed segment is its plaintext
plus a 16-byte tag. Every segment but the last holds exactly ``segment_size`` plaintext bytes;
the last holds 1..segment_size bytes, or 0 only when the whole plaintext is empty, so a plaintext
of n > 0 bytes makes exactly ceil(n / segment_size) segments and the encoding is canonical
(``ciphertext_size`` is exact). ``segment_size`` lies in [1 KiB, 16 MiB]; a stream has at most
2**32 - 1 segments.

Why it holds: the key with a random prefix gives each stream its own nonce space; the position in
the nonce rejects reordered, dropped and duplicated segments; the last flag rejects a stream cut
at a segment boundary and data after the end; the header is authenticated with every segment.

Decryption yields each segment's plaintext as soon as that segment verifies, so a consumer may
already have received part of the plaintext when ``AttachmentIntegrityError`` is raised: it must
treat the whole stream as failed then (an HTTP download is aborted, not completed).
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterable, AsyncIterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from records.errors import RecordsError

SEGMENT_SIZE = 64 * 1024  # plaintext bytes per segment
MIN_SEGMENT_SIZE = 1024
MAX_SEGMENT_SIZE = 16 * 1024 * 1024

MAGIC = b"RECSTRM1"
VERSION = 1
KEY_SIZE = 32
TAG_SIZE = 16
PREFIX_SIZE = 7
_HEADER = struct.Struct(">8sBI7s")
HEADER_SIZE = _HEADER.size  # 20
_NONCE_TAIL = struct.Struct(">IB")  # segment index, last flag
# The index is 4 bytes; capping the count at 2**32 - 1 keeps every index within it. A module
# global rather than a literal so tests can lower it.
_MAX_SEGMENTS = 2**32 - 1

# AES-GCM runs inline on the event loop, never in a worker thread: it measurably does not help.
# Measured here (2-vCPU VM with AES-NI, cryptography 50): sealing 64 KiB takes ~9 µs but one
# anyio.to_thread hop ~190 µs, so offloading the default segment cut throughput from ~4 GB/s to
# ~0.26 GB/s. Nor does it help large segments: cryptography keeps the GIL for most of the call,
# so with 16 MiB segments the event loop still stalled ~9 ms per segment offloaded against ~14 ms
# inline, at lower throughput. Keep segments small (the default) to keep stalls in microseconds.


class AttachmentIntegrityError(RecordsError):
    """Encrypted attachment bytes are not what was stored: altered, cut, reordered, or not
    ours (wrong key, wrong associated data, unknown format)."""

    code, status, title = "attachment_integrity", 500, "Attachment failed its integrity check"


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"key must be {KEY_SIZE} bytes, not {len(key)}")


def _check_segment_size(segment_size: int) -> None:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment_size must lie in [{MIN_SEGMENT_SIZE}, {MAX_SEGMENT_SIZE}], not {segment_size}")


def _segment_count(plaintext_size: int, segment_size: int) -> int:
    # An empty plaintext still makes one (empty, last) segment.
    return max(1, -(-plaintext_size // segment_size))


def ciphertext_size(plaintext_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """The exact size of ``encrypt_stream``'s output for ``plaintext_size`` bytes of input."""
    _check_segment_size(segment_size)
    if plaintext_size < 0:
        raise ValueError("plaintext_size must not be negative")
    segments = _segment_count(plaintext_size, segment_size)
    if segments > _MAX_SEGMENTS:
        raise ValueError("plaintext too large for one stream")
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


async def _pieces(
    chunks: AsyncIterable[bytes | memoryview], size: int
) -> AsyncIterator[tuple[bytes | bytearray | memoryview, bool]]:
    """Re-cut ``chunks`` into pieces of exactly ``size`` bytes and say which piece is the last.

    The last piece holds 0..size bytes. A full piece is held back until a further byte arrives
    (then it is not the last) or the input ends (then it is), so at most one full piece plus one
    partial one are kept. Pieces are cut from large chunks as views, without copying the chunk.
    """
    held: bytes | bytearray | memoryview | None = None  # a full piece, waiting to learn whether it is the last
    partial = bytearray()
    async for chunk in chunks:
        view = memoryview(chunk)
        while view:
            if held is not None:
                yield held, False
                held = None
            if not partial and len(view) >= size:
                held, view = view[:size], view[size:]
            else:
                take = size - len(partial)
                partial += view[:take]
                view = view[take:]
                if len(partial) == size:
                    held, partial = partial, bytearray()
        if isinstance(held, memoryview):
            # It must outlive this chunk, whose buffer the producer may reuse: copy it, unless
            # it is the whole of an immutable chunk (then keeping it costs nothing extra).
            held = chunk if type(chunk) is bytes and len(chunk) == size else bytes(held)
    if held is not None:
        yield held, True
    else:
        yield bytes(partial), True


def encrypt_stream(
    key: bytes, associated_data: bytes, chunks: AsyncIterable[bytes], segment_size: int = SEGMENT_SIZE
) -> AsyncIterator[bytes]:
    """Encrypt ``chunks`` (of any sizes) into the header followed by one sealed segment at a time.

    ``associated_data`` is authenticated, not stored: decryption must be given the same bytes
    (bind it to where the attachment belongs, e.g. its record and attachment ids). Raises
    ``ValueError`` here for a bad key or segment size, and while iterating for a stream of more
    than 2**32 - 1 segments.
    """
    _check_key(key)
    _check_segment_size(segment_size)
    header = _HEADER.pack(MAGIC, VERSION, segment_size, os.urandom(PREFIX_SIZE))
    return _encrypt(AESGCM(key), header, bytes(associated_data), chunks, segment_size)


async def _encrypt(
    aead: AESGCM, header: bytes, associated_data: bytes, chunks: AsyncIterable[bytes], segment_size: int
) -> AsyncIterator[bytes]:
    prefix = header[-PREFIX_SIZE:]
    aad = header + associated_data
    yield header
    index = 0
    async for piece, last in _pieces(chunks, segment_size):
        if index >= _MAX_SEGMENTS:
            raise ValueError("plaintext too large for one stream")
        nonce = prefix + _NONCE_TAIL.pack(index, last)
        yield aead.encrypt(nonce, piece, aad)
        index += 1


def decrypt_stream(key: bytes, associated_data: bytes, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Decrypt what ``encrypt_stream`` made, given in chunks of any sizes, yielding the plaintext
    of each segment once it verifies.

    Raises ``AttachmentIntegrityError`` while iterating when the bytes are not an intact stream
    sealed with this key and associated data; see the module docstring on partial output.
    Raises ``ValueError`` here for a key of the wrong size.
    """
    _check_key(key)
    return _decrypt(AESGCM(key), bytes(associated_data), chunks)


async def _decrypt(aead: AESGCM, associated_data: bytes, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    source = aiter(chunks)
    header = bytearray()
    rest = memoryview(b"")
    while len(header) < HEADER_SIZE:
        try:
            chunk = memoryview(await anext(source))
        except StopAsyncIteration:
            raise AttachmentIntegrityError("encrypted attachment is shorter than its header") from None
        need = HEADER_SIZE - len(header)
        header += chunk[:need]
        rest = chunk[need:]
    magic, version, segment_size, prefix = _HEADER.unpack(header)
    if magic != MAGIC:
        raise AttachmentIntegrityError("not an encrypted attachment")
    if version != VERSION:
        raise AttachmentIntegrityError(f"unknown encrypted attachment version {version}")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise AttachmentIntegrityError(f"encrypted attachment declares segment size {segment_size}")

    async def remaining() -> AsyncIterator[bytes | memoryview]:
        if rest:
            yield rest
        async for more in source:
            yield more

    aad = bytes(header) + associated_data
    index = 0
    async for sealed, last in _pieces(remaining(), segment_size + TAG_SIZE):
        if index >= _MAX_SEGMENTS:
            raise AttachmentIntegrityError("encrypted attachment has too many segments")
        if last and index > 0 and len(sealed) == TAG_SIZE:
            # Our encoder never ends a non-empty plaintext with an empty segment.
            raise AttachmentIntegrityError("encrypted attachment ends with an empty segment")
        nonce = prefix + _NONCE_TAIL.pack(index, last)
        try:
            plaintext = aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            # Also the outcome of a cut stream: the segment now at the end was sealed as not last.
            raise AttachmentIntegrityError(f"encrypted attachment segment {index} failed verification") from None
        yield plaintext
        index += 1
