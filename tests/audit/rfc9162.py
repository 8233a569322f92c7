"""An independent RFC 9162 (Certificate Transparency v2) Merkle tree reference, for tests.

Written from the text of RFC 9162 §2.1, deliberately NOT from ``records.audit.merkle``: it
shares no code with it (not even the hashing helpers), so a mistake in the implementation
cannot be mirrored here. Everything in this module works on explicit lists and is
O(n) or worse; that is fine for tests and is the point (no clever node addressing).

What it offers:

* ``mth(entries)`` -- the Merkle Tree Hash of §2.1.1, the plain recursive definition.
* ``verify_inclusion(...)`` -- the §2.1.3.2 inclusion-proof verification algorithm, step by step.
* ``verify_consistency(...)`` -- the §2.1.4.2 consistency-proof verification algorithm, step by
  step, plus the trivial ``first == second`` case the RFC leaves out (empty path, equal roots).
* ``reference_inclusion_path`` / ``reference_consistency_path`` -- the literal §2.1.3.1 PATH and
  §2.1.4.1 PROOF/SUBPROOF definitions over an explicit entry list, to compare proofs for
  equality (not just validity) on small trees.
* ``unhex`` / ``unhex_path`` -- strict decoding of the lowercase hex the API returns, so API
  tests can write ``verify_inclusion(unhex(leaf), i, size, unhex_path(body["path"]), unhex(root))``.

All hashes are ``bytes`` (32 bytes, SHA-256). The verifiers never raise for a bad proof: they
return ``False``. Passing hex ``str`` where ``bytes`` are expected raises ``TypeError`` (loud on
purpose, so a test cannot silently compare a string to bytes and pass a negative check by
accident).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

__all__ = [
    "HASH_SIZE",
    "empty_root",
    "hash_children",
    "hash_leaf",
    "mth",
    "reference_consistency_path",
    "reference_inclusion_path",
    "unhex",
    "unhex_path",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32  # SHA-256, the hash algorithm of every RFC 9162 test vector we use


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def empty_root() -> bytes:
    """MTH({}) = HASH() -- the hash of the empty string (§2.1.1)."""
    return _sha256(b"")


def hash_leaf(entry: bytes) -> bytes:
    """MTH({d(0)}) = HASH(0x00 || d(0)) -- the hash of a one-entry list (§2.1.1)."""
    return _sha256(b"\x00" + entry)


def hash_children(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right) -- an interior node (§2.1.1)."""
    return _sha256(b"\x01" + left + right)


def _split_point(n: int) -> int:
    """The k of §2.1.1: the largest power of two smaller than n, i.e. k < n <= 2k (n > 1)."""
    assert n > 1
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _require_bytes(*hashes: bytes) -> None:
    for h in hashes:
        if not isinstance(h, bytes):
            raise TypeError(
                f"hashes must be bytes, got {type(h).__name__} (decode hex with unhex/unhex_path)"
            )


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# --- §2.1.1 Merkle Tree Hash ------------------------------------------------------------------


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) for the list of (raw, unhashed) entries ``entries`` (RFC 9162 §2.1.1).

    MTH({}) = HASH(); MTH({d0}) = HASH(0x00 || d0); otherwise, with k the largest power of
    two smaller than n, MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
    """
    n = len(entries)
    if n == 0:
        return empty_root()
    if n == 1:
        return hash_leaf(entries[0])
    k = _split_point(n)
    return hash_children(mth(entries[:k]), mth(entries[k:]))


# --- §2.1.3.1 / §2.1.4.1 proof generation, literally (for equality checks on small trees) ------


def reference_inclusion_path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1 over the raw entries, leaf-to-root order."""
    n = len(entries)
    if not 0 <= m < n:
        raise ValueError(f"PATH({m}, D[{n}]) is undefined")
    if n == 1:
        return []
    k = _split_point(n)
    if m < k:
        return reference_inclusion_path(m, entries[:k]) + [mth(entries[k:])]
    return reference_inclusion_path(m - k, entries[k:]) + [mth(entries[:k])]


def reference_consistency_path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of §2.1.4.1 over the raw entries (0 < m <= n)."""
    n = len(entries)
    if not 0 < m <= n:
        raise ValueError(f"PROOF({m}, D[{n}]) is undefined")

    def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = _split_point(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    return subproof(m, entries, True)


# --- §2.1.3.2 Verifying an Inclusion Proof -----------------------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``path`` proves that ``leaf_hash`` is leaf number ``index`` (0-based) of the tree
    of ``tree_size`` leaves whose root is ``root``; RFC 9162 §2.1.3.2, step by step.

    ``leaf_hash`` is the leaf's hash (HASH(0x00 || entry)), not the entry; ``path`` is in the
    order PATH produces it (leaf to root).
    """
    _require_bytes(leaf_hash, root, *path)
    # 1. If leaf_index is greater than or equal to tree_size, fail. (A negative index is not a
    #    leaf_index at all; the RFC's integers are unsigned.)
    if index < 0 or index >= tree_size:
        return False
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, tree_size - 1
    # 3. Set r to hash.
    r = leaf_hash
    # 4. For each value p in the inclusion_path array:
    for p in path:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = hash_children(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            #     LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        # Otherwise:
        else:
            # i. Set r to HASH(0x01 || r || p).
            r = hash_children(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. If sn is equal to 0 and r and the root_hash are equal, the inclusion is proven.
    #    Otherwise, fail the proof verification.
    return sn == 0 and _same(r, root)


# --- §2.1.4.2 Verifying Consistency between Two Tree Heads ------------------------------------


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """True iff ``path`` proves the tree of ``first`` leaves with root ``first_root`` is a prefix
    of the tree of ``second`` leaves with root ``second_root``; RFC 9162 §2.1.4.2.

    The RFC algorithm is stated for 0 < first < second. Outside it: ``first == second`` is
    accepted only with an empty path and equal roots (PROOF(n, D[n]) is empty); ``first < 1``
    or ``first > second`` is never a valid proof here (our logs never prove from the empty tree).
    """
    _require_bytes(first_root, second_root, *path)
    if first < 1 or first > second:
        return False
    if first == second:
        return len(path) == 0 and _same(first_root, second_root)

    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if len(path) == 0:
        return False
    consistency_path = list(path)
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if first & (first - 1) == 0:
        consistency_path.insert(0, first_root)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = consistency_path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in consistency_path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).
            fr = hash_children(c, fr)
            # ii. Set sr to HASH(0x01 || c || sr).
            sr = hash_children(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            #      LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        # Otherwise:
        else:
            # i. Set sr to HASH(0x01 || sr || c).
            sr = hash_children(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that fr equals first_hash, that sr equals second_hash, and that sn is 0.
    return _same(fr, first_root) and _same(sr, second_root) and sn == 0


# --- hex, as the API returns it ----------------------------------------------------------------

_LOWER_HEX = frozenset("0123456789abcdef")


def unhex(value: str) -> bytes:
    """Decode one hash given as lowercase hex (exactly 64 characters); ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"expected a hex string, got {type(value).__name__}")
    if len(value) != 2 * HASH_SIZE or not set(value) <= _LOWER_HEX:
        raise ValueError(f"not a lowercase hex SHA-256 hash: {value!r}")
    return bytes.fromhex(value)


def unhex_path(values: Sequence[str]) -> list[bytes]:
    """Decode a proof path given as a list of lowercase hex hashes (see ``unhex``)."""
    if isinstance(values, str):
        raise TypeError("a path is a list of hex strings, not one string")
    return [unhex(v) for v in values]
