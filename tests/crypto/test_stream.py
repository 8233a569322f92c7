"""Streaming attachment encryption: round trips at every size boundary, the exact format, every
way of tampering with a stream, and memory that stays bounded whatever the stream's size."""

from __future__ import annotations

import hashlib
import os
import random
import struct
import tracemalloc
from collections.abc import AsyncIterable, AsyncIterator, Callable

import anyio
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from records.crypto import stream
from records.crypto.stream import (
    SEGMENT_SIZE,
    AttachmentIntegrityError,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
)
from records.errors import RecordsError

KEY = bytes(range(32))
AD = b"record=rec-0001;attachment=att-0001"
SEG = 1024  # the smallest segment size keeps multi-segment streams small and fast
HEADER = stream.HEADER_SIZE
SEALED = SEG + stream.TAG_SIZE


def run(fn: Callable[[], object]) -> object:
    return anyio.run(fn)  # type: ignore[arg-type]


async def pieces(data: bytes, rng: random.Random | None = None, largest: int = 3 * SEG) -> AsyncIterator[bytes]:
    """``data`` in chunks of random sizes (empty ones included), or whole when ``rng`` is None."""
    if rng is None:
        yield data
        return
    at = 0
    while at < len(data):
        size = rng.choice([0, 1, rng.randint(0, largest)])
        yield data[at:at + size]
        at += size
    yield b""


async def collect(chunks: AsyncIterable[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


def encrypt(data: bytes, *, key: bytes = KEY, ad: bytes = AD, segment_size: int = SEG,
            rng: random.Random | None = None) -> list[bytes]:
    """The encrypted stream as encrypt_stream yields it: the header, then one item per segment."""
    return run(lambda: collect(encrypt_stream(key, ad, pieces(data, rng), segment_size)))  # type: ignore[return-value]


def decrypt(blob: bytes, *, key: bytes = KEY, ad: bytes = AD, rng: random.Random | None = None) -> bytes:
    return b"".join(run(lambda: collect(decrypt_stream(key, ad, pieces(blob, rng)))))  # type: ignore[arg-type]


def split(blob: bytes) -> tuple[bytes, list[bytes]]:
    """A stream sealed with ``SEG`` cut into its header and sealed segments."""
    body = blob[HEADER:]
    return blob[:HEADER], [body[at:at + SEALED] for at in range(0, len(body), SEALED)]


def plaintext(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# -- round trips ---------------------------------------------------------------------------------

SIZES = [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 517]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", range(5))
def test_round_trip_with_random_chunking(size: int, seed: int) -> None:
    rng = random.Random(seed)
    data = plaintext(size, seed)
    sealed = encrypt(data, rng=rng)
    blob = b"".join(sealed)
    assert len(blob) == ciphertext_size(size, SEG)
    assert decrypt(blob, rng=rng) == data
    assert decrypt(blob) == data
    # The header, then one item per segment: full ones, and the last holding 1..SEG bytes
    # (0 only for an empty plaintext).
    assert len(sealed[0]) == HEADER
    segments = sealed[1:]
    assert len(segments) == max(1, -(-size // SEG))
    assert all(len(segment) == SEALED for segment in segments[:-1])
    assert len(segments[-1]) - stream.TAG_SIZE == (size - SEG * (len(segments) - 1))


@pytest.mark.parametrize("size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE])
def test_round_trip_at_the_default_segment_size(size: int) -> None:
    rng = random.Random(size)
    data = plaintext(size)
    blob = b"".join(encrypt(data, segment_size=SEGMENT_SIZE, rng=random.Random(size)))
    assert len(blob) == ciphertext_size(size)
    assert decrypt(blob, rng=rng) == data


@pytest.mark.parametrize("segment_size", [stream.MIN_SEGMENT_SIZE, stream.MAX_SEGMENT_SIZE])
def test_round_trip_at_the_segment_size_limits(segment_size: int) -> None:
    data = plaintext(2 * segment_size + 3)
    blob = b"".join(encrypt(data, segment_size=segment_size))
    assert len(blob) == ciphertext_size(len(data), segment_size)
    assert decrypt(blob) == data


def test_large_chunks_are_cut_into_many_segments() -> None:
    data = plaintext(10 * SEG + 5)
    sealed = encrypt(data)  # one chunk holding eleven segments
    assert len(sealed) == 1 + 11
    assert decrypt(b"".join(sealed)) == data


def test_a_producer_reusing_its_buffer_is_safe() -> None:
    """Readers that ``readinto`` one bytearray hand over the same buffer each time, changed."""
    data = plaintext(5 * SEG + 200)

    async def reused_buffer(size: int) -> AsyncIterator[bytes]:
        buffer = bytearray(size)
        for at in range(0, len(data), size):
            piece = data[at:at + size]
            buffer[:len(piece)] = piece
            yield buffer if len(piece) == size else bytes(piece)  # type: ignore[misc]
            buffer[:] = bytes(size)  # what the next readinto would do to it

    for size in (SEG, 2 * SEG + 7, 3 * SEG):
        blob = b"".join(run(lambda: collect(encrypt_stream(KEY, AD, reused_buffer(size), SEG))))  # type: ignore[arg-type]  # noqa: B023 - run now
        assert decrypt(blob) == data

        async def decrypt_from_reused() -> bytes:
            buffer = bytearray(size)  # noqa: B023 - called within the iteration

            async def chunks() -> AsyncIterator[bytes]:
                for at in range(0, len(blob), size):  # noqa: B023 - called within the iteration
                    piece = blob[at:at + size]  # noqa: B023 - called within the iteration
                    buffer[:len(piece)] = piece
                    yield buffer if len(piece) == size else bytes(piece)  # type: ignore[misc]  # noqa: B023 - called within the iteration
                    buffer[:] = bytes(size)  # noqa: B023 - called within the iteration
            return b"".join(await collect(decrypt_stream(KEY, AD, chunks())))

        assert run(decrypt_from_reused) == data


def test_each_stream_gets_a_fresh_nonce_prefix() -> None:
    data = plaintext(100)
    first, second = b"".join(encrypt(data)), b"".join(encrypt(data))
    assert first[HEADER - stream.PREFIX_SIZE:HEADER] != second[HEADER - stream.PREFIX_SIZE:HEADER]
    assert first[HEADER:] != second[HEADER:]


def test_the_format_is_as_documented() -> None:
    """Open a stream by hand, following only the module docstring."""
    data = plaintext(2 * SEG + 10)
    blob = b"".join(encrypt(data))
    header = blob[:20]
    magic, version, segment_size, prefix = struct.unpack(">8sBI7s", header)
    assert (magic, version, segment_size, len(prefix)) == (b"RECSTRM1", 1, SEG, 7)
    aead, body, out = AESGCM(KEY), blob[20:], b""
    for index, at in enumerate(range(0, len(body), segment_size + 16)):
        last = at + segment_size + 16 >= len(body)
        nonce = prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        out += aead.decrypt(nonce, body[at:at + segment_size + 16], header + AD)
    assert out == data


def test_ciphertext_size() -> None:
    assert ciphertext_size(0) == 20 + 16
    assert ciphertext_size(1) == 20 + 1 + 16
    assert ciphertext_size(SEGMENT_SIZE) == 20 + SEGMENT_SIZE + 16
    assert ciphertext_size(SEGMENT_SIZE + 1) == 20 + SEGMENT_SIZE + 1 + 2 * 16
    assert ciphertext_size(10 * 2**30) == 20 + 10 * 2**30 + 163840 * 16
    assert ciphertext_size(3 * SEG, SEG) == 20 + 3 * SEG + 3 * 16
    with pytest.raises(ValueError):
        ciphertext_size(-1)
    with pytest.raises(ValueError):
        ciphertext_size(1, 1023)
    with pytest.raises(ValueError):
        ciphertext_size(SEG * (2**32 - 1) + 1, SEG)
    assert ciphertext_size(SEG * (2**32 - 1), SEG) == 20 + SEG * (2**32 - 1) + (2**32 - 1) * 16


# -- misuse: programming errors are ValueError, raised when the stream is made ---------------------

@pytest.mark.parametrize("key", [b"", bytes(16), bytes(24), bytes(31), bytes(33)])
def test_keys_must_be_32_bytes(key: bytes) -> None:
    with pytest.raises(ValueError):
        encrypt_stream(key, AD, pieces(b"x"))
    with pytest.raises(ValueError):
        decrypt_stream(key, AD, pieces(b"x"))


@pytest.mark.parametrize("segment_size", [0, 1, 1023, 16 * 1024 * 1024 + 1, 2**32])
def test_encrypt_refuses_segment_sizes_out_of_range(segment_size: int) -> None:
    with pytest.raises(ValueError):
        encrypt_stream(KEY, AD, pieces(b"x"), segment_size)


def test_encrypt_refuses_to_overflow_the_segment_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "_MAX_SEGMENTS", 3)
    assert decrypt(b"".join(encrypt(plaintext(3 * SEG)))) == plaintext(3 * SEG)  # exactly the cap
    with pytest.raises(ValueError):
        encrypt(plaintext(3 * SEG + 1))
    with pytest.raises(ValueError):
        ciphertext_size(3 * SEG + 1, SEG)


def test_decrypt_refuses_a_stream_past_the_segment_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = b"".join(encrypt(plaintext(3 * SEG + 1)))
    monkeypatch.setattr(stream, "_MAX_SEGMENTS", 3)
    with pytest.raises(AttachmentIntegrityError):
        decrypt(blob)


# -- tampering: every case raises AttachmentIntegrityError -----------------------------------------

DATA = plaintext(3 * SEG + 300)  # three full segments and a short last one
BLOB = b"".join(encrypt(DATA))
OTHER = b"".join(encrypt(DATA))  # same key, same plaintext, another stream


def test_the_untampered_stream_decrypts() -> None:
    """The control for every tamper test below: they differ from this only by their tampering."""
    assert decrypt(BLOB) == DATA
    assert decrypt(BLOB, rng=random.Random(1)) == DATA


def assert_rejected(blob: bytes, *, key: bytes = KEY, ad: bytes = AD) -> None:
    for rng in (None, random.Random(len(blob))):
        with pytest.raises(AttachmentIntegrityError):
            decrypt(blob, key=key, ad=ad, rng=rng)


def flip(blob: bytes, at: int, bit: int = 0) -> bytes:
    changed = bytearray(blob)
    changed[at] ^= 1 << bit
    return bytes(changed)


def test_a_flipped_bit_anywhere_is_detected() -> None:
    # Every byte of the stream: header (magic, version, segment size, prefix), bodies and tags.
    async def main() -> list[int]:
        undetected = []
        for at in range(len(BLOB)):
            try:
                await collect(decrypt_stream(KEY, AD, pieces(flip(BLOB, at, at % 8))))
            except AttachmentIntegrityError:
                continue
            undetected.append(at)
        return undetected

    assert run(main) == []


@pytest.mark.parametrize("where", ["magic", "version", "segment_size", "prefix", "body", "tag", "last body", "last tag"])
def test_a_flipped_bit_in_each_part_is_detected(where: str) -> None:
    at = {
        "magic": 3, "version": 8, "segment_size": 12, "prefix": 15,
        "body": HEADER + SEALED + 100, "tag": HEADER + 2 * SEALED - 1,
        "last body": HEADER + 3 * SEALED, "last tag": len(BLOB) - 1,
    }[where]
    assert_rejected(flip(BLOB, at))


def test_swapped_segments_are_detected() -> None:
    header, segments = split(BLOB)
    segments[0], segments[1] = segments[1], segments[0]
    assert_rejected(header + b"".join(segments))


def test_a_dropped_middle_segment_is_detected() -> None:
    header, segments = split(BLOB)
    del segments[1]
    assert_rejected(header + b"".join(segments))


def test_a_dropped_last_segment_is_detected() -> None:
    header, segments = split(BLOB)
    assert_rejected(header + b"".join(segments[:-1]))


def test_a_duplicated_segment_is_detected() -> None:
    header, segments = split(BLOB)
    segments.insert(1, segments[1])
    assert_rejected(header + b"".join(segments))
    header, segments = split(BLOB)
    assert_rejected(header + b"".join(segments + segments[-1:]))  # the last one, repeated


@pytest.mark.parametrize("cut", [0, 1, HEADER - 1, HEADER, HEADER + SEALED, HEADER + 2 * SEALED, HEADER + 3 * SEALED])
def test_a_stream_cut_at_a_boundary_is_detected(cut: int) -> None:
    assert_rejected(BLOB[:cut])


@pytest.mark.parametrize("cut", [HEADER + 1, HEADER + 15, HEADER + SEALED // 2, HEADER + 2 * SEALED + 16, len(BLOB) - 1])
def test_a_stream_cut_mid_segment_is_detected(cut: int) -> None:
    assert_rejected(BLOB[:cut])


def test_every_truncation_is_detected() -> None:
    async def main() -> list[int]:
        undetected = []
        for cut in range(len(BLOB)):
            try:
                await collect(decrypt_stream(KEY, AD, pieces(BLOB[:cut])))
            except AttachmentIntegrityError:
                continue
            undetected.append(cut)
        return undetected

    assert run(main) == []


@pytest.mark.parametrize("extra", [b"\x00", bytes(16), bytes(SEALED), bytes(SEALED + 1)])
def test_appended_bytes_are_detected(extra: bytes) -> None:
    assert_rejected(BLOB + extra)


def test_appended_bytes_after_a_full_last_segment_are_detected() -> None:
    blob = b"".join(encrypt(plaintext(2 * SEG)))  # ends on a full segment
    assert decrypt(blob) == plaintext(2 * SEG)
    for extra in (b"\x00", bytes(16), blob[HEADER:HEADER + SEALED]):
        assert_rejected(blob + extra)


def test_a_segment_appended_from_another_stream_is_detected() -> None:
    _, theirs = split(OTHER)
    assert_rejected(BLOB + theirs[-1])


def test_the_wrong_key_is_detected() -> None:
    assert_rejected(BLOB, key=bytes(reversed(KEY)))


@pytest.mark.parametrize("ad", [b"", AD + b"x", AD[:-1], b"record=rec-0002;attachment=att-0001"])
def test_the_wrong_associated_data_is_detected(ad: bytes) -> None:
    assert_rejected(BLOB, ad=ad)


@pytest.mark.parametrize("index", [0, 1, 3])
def test_a_segment_from_another_stream_with_the_same_key_is_detected(index: int) -> None:
    header, segments = split(BLOB)
    _, theirs = split(OTHER)
    segments[index] = theirs[index]  # same key, same position, same plaintext
    assert_rejected(header + b"".join(segments))


def test_a_header_from_another_stream_is_detected() -> None:
    assert_rejected(OTHER[:HEADER] + BLOB[HEADER:])


def test_an_empty_or_foreign_input_is_detected() -> None:
    assert_rejected(b"")
    assert_rejected(b"%PDF-1.7\n" + bytes(4000))
    assert_rejected(plaintext(4000))


def seal_by_hand(header: bytes, segments: list[tuple[bytes, bool]]) -> bytes:
    """A stream made with the key but not by encrypt_stream, to isolate one decoder check."""
    prefix, aead = header[-7:], AESGCM(KEY)
    return header + b"".join(
        aead.encrypt(prefix + index.to_bytes(4, "big") + bytes([last]), data, header + AD)
        for index, (data, last) in enumerate(segments)
    )


def test_seal_by_hand_makes_what_encrypt_stream_makes() -> None:
    """The control for the tests that seal by hand: a canonical stream so made is accepted."""
    header = BLOB[:HEADER]
    pieces_ = [(DATA[at:at + SEG], at + SEG >= len(DATA)) for at in range(0, len(DATA), SEG)]
    assert seal_by_hand(header, pieces_) == BLOB


@pytest.mark.parametrize("version", [0, 2, 255])
def test_an_unknown_version_is_refused(version: int) -> None:
    header = struct.pack(">8sBI7s", b"RECSTRM1", version, SEG, os.urandom(7))
    assert_rejected(seal_by_hand(header, [(b"hello", True)]))


@pytest.mark.parametrize("segment_size", [0, 512, 1023, 16 * 1024 * 1024 + 1, 2**32 - 1])
def test_a_segment_size_out_of_range_in_the_header_is_refused(segment_size: int) -> None:
    header = struct.pack(">8sBI7s", b"RECSTRM1", 1, segment_size, os.urandom(7))
    assert_rejected(seal_by_hand(header, [(b"hello", True)]))


def test_an_empty_last_segment_after_full_ones_is_refused() -> None:
    """Not canonical: encrypt_stream ends a plaintext of whole segments on a full last one."""
    header = BLOB[:HEADER]
    assert_rejected(seal_by_hand(header, [(DATA[:SEG], False), (b"", True)]))
    assert decrypt(seal_by_hand(header, [(DATA[:SEG], True)])) == DATA[:SEG]


def test_the_error_is_a_records_error() -> None:
    with pytest.raises(AttachmentIntegrityError) as caught:
        decrypt(flip(BLOB, HEADER + 5))
    error = caught.value
    assert isinstance(error, RecordsError)
    assert (error.code, error.status, error.title) == (
        "attachment_integrity", 500, "Attachment failed its integrity check")


def test_plaintext_is_yielded_per_verified_segment() -> None:
    """Segments before a tampered one come out first; the error follows (documented)."""
    tampered = flip(BLOB, len(BLOB) - 1)

    async def main() -> list[bytes]:
        got: list[bytes] = []
        with pytest.raises(AttachmentIntegrityError):
            async for part in decrypt_stream(KEY, AD, pieces(tampered)):
                got.append(part)
        return got

    assert run(main) == [DATA[:SEG], DATA[SEG:2 * SEG], DATA[2 * SEG:3 * SEG]]


# -- bounded memory ------------------------------------------------------------------------------

LIMIT = 4 * 1024 * 1024


def warm_up() -> None:
    """The first anyio.run imports its backend (~6 MiB): keep that out of the measurement."""
    anyio.run(anyio.sleep, 0)


def test_memory_stays_bounded_over_a_64_mib_stream() -> None:
    total = 64 * 1024 * 1024
    rng = random.Random(7)

    async def generated(digest: hashlib._Hash) -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            size = min(total - sent, rng.choice([0, 1, 100, rng.randint(1, 512 * 1024)]))
            chunk = rng.randbytes(size)
            digest.update(chunk)
            sent += size
            yield chunk

    async def main() -> tuple[str, str, int]:
        sent, received, size = hashlib.sha256(), hashlib.sha256(), 0
        async for part in decrypt_stream(KEY, AD, encrypt_stream(KEY, AD, generated(sent))):
            received.update(part)
            size += len(part)
        return sent.hexdigest(), received.hexdigest(), size

    warm_up()
    tracemalloc.start()
    try:
        sent, received, size = anyio.run(main)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (received, size) == (sent, total)
    assert peak < LIMIT, f"peak {peak / 2**20:.1f} MiB"


def test_one_huge_chunk_is_not_copied_whole() -> None:
    data = os.urandom(32 * 1024 * 1024)
    blob = b"".join(encrypt(data, segment_size=SEGMENT_SIZE))

    async def encrypt_once() -> int:
        return sum([len(part) async for part in encrypt_stream(KEY, AD, pieces(data))])

    async def decrypt_once() -> int:
        return sum([len(part) async for part in decrypt_stream(KEY, AD, pieces(blob))])

    for job, expected in ((encrypt_once, len(blob)), (decrypt_once, len(data))):
        warm_up()
        tracemalloc.start()  # after the chunk exists: only what the stream allocates counts
        try:
            assert anyio.run(job) == expected
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < LIMIT, f"{job.__name__}: peak {peak / 2**20:.1f} MiB"
