"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proofs, over a store of
perfect-subtree hashes so that any root or proof costs O(log² n) lookups.

Why not a library: pymerkle (evaluated, 7.0) keeps its own copy of every leaf in its own
storage; our leaves are audit events that must commit in the same transaction as the action
they record, in the record store (SQLite now, MongoDB later). What we need of RFC 9162 is
small and fully specified: §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 PROOF/SUBPROOF generation. The tests verify our
output with an independent implementation of the §2.1.3.2 and §2.1.4.2 verification algorithms.

Node addressing: ``node(level, index)`` is the hash of the perfect subtree covering leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 nodes are leaf hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeLookup = Callable[[int, int], bytes]


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleFrontier:
    """Appends leaves and yields every perfect-subtree node they complete, keeping only the
    O(log n) right edge in memory (the standard 'compact range' of CT logs)."""

    def __init__(self, size: int, edge: dict[int, bytes]) -> None:
        # edge[level]: the perfect subtree for each set bit of ``size`` (the perfect subtrees
        # the current tree decomposes into, largest on the left).
        self.size = size
        self.edge = dict(edge)

    @classmethod
    def from_nodes(cls, size: int, node: NodeLookup) -> MerkleFrontier:
        if size < 0:
            raise ValueError(f"a tree cannot have {size} leaves")
        edge: dict[int, bytes] = {}
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size & (1 << level):
                edge[level] = node(level, start >> level)
                start += 1 << level
        return cls(size, edge)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the nodes it creates, leaf first: (level, index, hash)."""
        index = self.size
        created = [(0, index, leaf)]
        current, level = leaf, 0
        while index & 1:  # a left sibling waits at this level: combine
            current = node_hash(self.edge.pop(level), current)
            level += 1
            index >>= 1
            created.append((level, index, current))
        self.edge[level] = current
        self.size += 1
        return created


def frontier_root(frontier: MerkleFrontier) -> bytes:
    """The root of the tree a frontier describes: fold its perfect subtrees right to left."""
    if frontier.size == 0:
        return EMPTY_ROOT
    levels = sorted(frontier.edge)
    current = frontier.edge[levels[0]]
    for level in levels[1:]:
        current = node_hash(frontier.edge[level], current)
    return current


def root(size: int, node: NodeLookup) -> bytes:
    """MTH of the first ``size`` leaves (RFC 9162 §2.1.1)."""
    if size < 0:
        raise ValueError(f"a tree cannot have {size} leaves")
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, node)


def subtree_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """MTH(D[start:end]) where ``start`` is aligned as RFC 9162's recursion always leaves it."""
    if not 0 <= start < end:
        raise ValueError(f"no subtree covers leaves [{start}, {end})")
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return node(n.bit_length() - 1, start // n)
    k = _largest_power_of_two_below(n)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def inclusion_path(index: int, size: int, node: NodeLookup) -> list[bytes]:
    """PATH(m, D[0:size]) of RFC 9162 §2.1.3.1, leaf-to-root order."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return path(m, start, start + k) + [subtree_hash(start + k, end, node)]
        return path(m - k, start + k, end) + [subtree_hash(start, start + k, node)]

    return path(index, 0, size)


def consistency_path(first: int, second: int, node: NodeLookup) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1 (SUBPROOF with b = true)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}: need 0 < first <= second")

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [subtree_hash(start, end, node)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return subproof(m, start, start + k, whole) + [subtree_hash(start + k, end, node)]
        return subproof(m - k, start + k, end, False) + [subtree_hash(start, start + k, node)]

    return subproof(first, 0, second, True)
