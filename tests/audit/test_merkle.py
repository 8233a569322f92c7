"""records.audit.merkle against RFC 9162: the Certificate Transparency reference vectors, an
exhaustive cross-check with the independent reference in tests/audit/rfc9162.py, and proofs
that must NOT verify.

Every negative test first checks that the untouched proof verifies (a positive control), so a
verifier or fixture that rejects everything cannot make it pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from records.audit import merkle
from records.audit.merkle import MerkleFrontier, consistency_path, inclusion_path, root
from tests.audit.rfc9162 import (
    empty_root,
    hash_children,
    hash_leaf,
    mth,
    reference_consistency_path,
    reference_inclusion_path,
    unhex,
    unhex_path,
    verify_consistency,
    verify_inclusion,
)

# --- Certificate Transparency reference vectors ------------------------------------------------
# The eight leaf inputs of the CT reference tests (certificate-transparency C++/Python, Trillian,
# transparency-dev/merkle), the root of every prefix, the node hashes of the full eight-leaf
# tree, and the published audit/consistency paths. Inclusion indices here are 0-based (the
# C++/Python suites number leaves from 1).

CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]

CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # size 0: SHA-256("")
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (level, index) -> hash for every perfect subtree of the eight-leaf tree.
CT_NODES = {
    (0, 0): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 2): "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    (0, 3): "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    (0, 4): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 5): "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (0, 7): "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

# (index, tree_size, path)
CT_INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# (first, second, path)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# A proof taken from a production CT log (certificate-transparency's Python merkle_test.py):
# leaf 848049 of a 3,630,887-entry tree. It exercises only the verifier, on a tree far larger
# than anything we build here.
CT_LOG_LEAF_HASH = "7a395c866d5ecdb0cccb623e011dbc392cd348d1d1d72776174e127a24b09c78"
CT_LOG_LEAF_INDEX = 848049
CT_LOG_TREE_SIZE = 3630887
CT_LOG_ROOT = "78316a05c9bcf14a3a4548f5b854a9adfcd46a4c034401b3ce7eb7ac2f1d0ecb"
CT_LOG_PATH = [
    "1a208aeebcd1b39fe2de247ee8db9454e1e93a312d206b87f6ca9cc6ec6f1ddd",
    "0a1b78b383f580856f433c01a5741e160d451c185910027f6cc9f828687a40c4",
    "3d1745789bc63f2da15850de1c12a5bf46ed81e1cc90f086148b1662e79aab3d",
    "9095b61e14d8990acf390905621e62b1714fb8e399fbb71de5510e0aef45affe",
    "0a332b91b8fab564e6afd1dd452449e04619b18accc0ff9aa8393cd4928451f2",
    "2336f0181d264aed6d8f3a6507ca14a8d3b3c3a23791ac263e845d208c1ee330",
    "b4ce56e300590500360c146c6452edbede25d4ed83919278749ee5dbe178e048",
    "933f6ddc848ea562e4f9c5cfb5f176941301dad0c6fdb9d1fbbe34fac1be6966",
    "b95a6222958a86f74c030be27c44f57dbe313e5e7c7f4ffb98bcbd3a03bb52f2",
    "daeeb3ce5923defd0faeb8e0c210b753b85b809445d7d3d3cd537a9aabaa9c45",
    "7fadd0a13e9138a2aa6c3fdec4e2275af233b94812784f66bcca9aa8e989f2bc",
    "1864e6ba3e32878610546539734fb5eeae2529991f130c575c73a7e25a2a7c56",
    "12842d1202b1dc6828a17ab253c02e7ce9409b5192430feba44189f39cc02d66",
    "29af64b16fa3053c13d02ac63aa75b23aa468506e44c3a2315edc85d2dc22b11",
    "b527b99934a0bd9edd154e449b0502e2c499bba783f3bc3dfe23364b6b532009",
    "4584db8ae8e351ace08e01f306378a92bfd43611714814f3d834a2842d69faa8",
    "86a9a41573b0d6e4292f01e93243d6cc65b30f06606fc6fa57390e7e90ed580f",
    "a88b98fbe84d4c6aae8db9d1605dfac059d9f03fe0fcb0d5dff1295dacba09e6",
    "06326dc617a6d1f7021dc536026dbfd5fffc6f7c5531d48ef6ccd1ed1569f2a1",
    "f41fe8fdc3a2e4e8345e30216e7ebecffee26ff266eeced208a6c2a3cf08f960",
    "40cf5bde8abb76983f3e98ba97aa36240402975674e120f234b3448911090f8d",
    "b3222dc8658538079883d980d7fdc2bef9285344ea34338968f736b04aeb387a",
]

# --- one shared tree ---------------------------------------------------------------------------

MAX_SIZE = 130  # every root and inclusion proof is checked for sizes 1..MAX_SIZE
MAX_CONSISTENCY = 70  # every consistency proof 1 <= first <= second <= MAX_CONSISTENCY
EXTRA = 24  # leaves beyond MAX_SIZE, so frontiers can keep appending past it

ENTRIES = CT_LEAVES + [b"audit event %d" % i for i in range(len(CT_LEAVES), MAX_SIZE + EXTRA)]
LEAVES = [hash_leaf(e) for e in ENTRIES]
ROOTS = [mth(ENTRIES[:n]) for n in range(MAX_SIZE + 1)]


def _build_store(entries: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """The node store as the application fills it: every node MerkleFrontier.append yields."""
    frontier = MerkleFrontier(0, {})
    store: dict[tuple[int, int], bytes] = {}
    for entry in entries:
        for level, index, value in frontier.append(merkle.leaf_hash(entry)):
            assert (level, index) not in store, f"node ({level}, {index}) produced twice"
            store[(level, index)] = value
    return store


STORE = _build_store(ENTRIES)


class Lookup:
    """``node(level, index)`` over STORE for a tree of ``size`` leaves. It fails the test if asked
    for a node that is not yet complete at that size (a live log would not have it) and counts
    lookups."""

    def __init__(self, size: int, store: dict[tuple[int, int], bytes] = STORE) -> None:
        self.size = size
        self.store = store
        self.calls = 0

    def __call__(self, level: int, index: int) -> bytes:
        assert level >= 0 and index >= 0, f"node ({level}, {index})"
        assert (index + 1) << level <= self.size, (
            f"node ({level}, {index}) covers leaves beyond a tree of size {self.size}"
        )
        self.calls += 1
        return self.store[(level, index)]


def _flip(h: bytes, byte: int = 0) -> bytes:
    """The hash with one bit changed."""
    return h[:byte] + bytes([h[byte] ^ 0x01]) + h[byte + 1 :]


def _sides(m: int, n: int) -> list[str]:
    """Which side each sibling of leaf m sits on, leaf to root, read off §2.1.3.1's recursion
    (not off any implementation)."""
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    return _sides(m, k) + ["right"] if m < k else _sides(m - k, n - k) + ["left"]


# --- primitives --------------------------------------------------------------------------------


def test_hash_primitives_are_rfc9162() -> None:
    assert merkle.EMPTY_ROOT == empty_root() == unhex(CT_ROOTS[0])
    for entry in CT_LEAVES + [b"\x01" * 64]:
        assert merkle.leaf_hash(entry) == hash_leaf(entry) == hashlib.sha256(b"\x00" + entry).digest()
    a, b = LEAVES[0], LEAVES[1]
    assert merkle.node_hash(a, b) == hash_children(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle.node_hash(a, b) != merkle.node_hash(b, a)


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    """An interior node's preimage submitted as an entry does not hash to that node (0x00/0x01)."""
    interior = hash_children(LEAVES[0], LEAVES[1])
    assert merkle.leaf_hash(LEAVES[0] + LEAVES[1]) != interior
    assert merkle.leaf_hash(b"\x01" + LEAVES[0] + LEAVES[1]) != interior
    # So the two-leaf tree's root cannot be passed off as a one-entry tree of that preimage.
    assert not verify_inclusion(merkle.leaf_hash(LEAVES[0] + LEAVES[1]), 0, 1, [], ROOTS[2])


# --- CT reference vectors ----------------------------------------------------------------------


def test_ct_vectors_against_the_reference_mth() -> None:
    """The vectors check the independent reference too, before it is trusted below."""
    for size, expected in enumerate(CT_ROOTS):
        assert mth(CT_LEAVES[:size]).hex() == expected


def test_ct_node_hashes_are_exactly_what_the_frontier_produces() -> None:
    store = _build_store(CT_LEAVES)
    assert {key: value.hex() for key, value in store.items()} == CT_NODES


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_ct_roots(size: int) -> None:
    assert root(size, Lookup(size)).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION)
def test_ct_inclusion_vectors(index: int, size: int, expected: list[str]) -> None:
    path = inclusion_path(index, size, Lookup(size))
    assert [p.hex() for p in path] == expected
    assert reference_inclusion_path(index, CT_LEAVES[:size]) == unhex_path(expected)
    assert verify_inclusion(hash_leaf(CT_LEAVES[index]), index, size, path, unhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "expected"), CT_CONSISTENCY)
def test_ct_consistency_vectors(first: int, second: int, expected: list[str]) -> None:
    path = consistency_path(first, second, Lookup(second))
    assert [p.hex() for p in path] == expected
    assert reference_consistency_path(first, CT_LEAVES[:second]) == unhex_path(expected)
    assert verify_consistency(
        first, second, unhex(CT_ROOTS[first]), unhex(CT_ROOTS[second]), path
    )


def test_ct_log_inclusion_vector() -> None:
    leaf, path, log_root = unhex(CT_LOG_LEAF_HASH), unhex_path(CT_LOG_PATH), unhex(CT_LOG_ROOT)
    index, size = CT_LOG_LEAF_INDEX, CT_LOG_TREE_SIZE
    assert verify_inclusion(leaf, index, size, path, log_root)
    assert not verify_inclusion(leaf, index + 1, size, path, log_root)
    assert not verify_inclusion(leaf, index, size + (1 << 22), path, log_root)  # needs a longer path
    assert not verify_inclusion(leaf, index, size, path[:-1], log_root)
    assert not verify_inclusion(_flip(leaf, 31), index, size, path, log_root)


# --- the frontier --------------------------------------------------------------------------------


def test_frontier_yields_every_perfect_subtree_once_when_it_completes() -> None:
    """Appending leaf j creates exactly the perfect subtrees ending at leaf j, leaf first, each
    equal to MTH of its range."""
    frontier = MerkleFrontier(0, {})
    for j, entry in enumerate(ENTRIES):
        created = frontier.append(merkle.leaf_hash(entry))
        expected_keys = []
        level = 0
        while (j + 1) % (1 << level) == 0:
            expected_keys.append((level, (j + 1 >> level) - 1))
            level += 1
        assert [(lv, ix) for lv, ix, _ in created] == expected_keys
        for lv, ix, value in created:
            assert value == mth(ENTRIES[ix << lv : (ix + 1) << lv]), (lv, ix)
        assert frontier.size == j + 1
    perfect = {
        (lv, ix) for lv in range(len(ENTRIES).bit_length()) for ix in range(len(ENTRIES) >> lv)
    }
    assert set(STORE) == perfect


@pytest.mark.parametrize("size", range(MAX_SIZE + 1))
def test_frontier_from_nodes_continues_like_the_appending_one(size: int) -> None:
    appended = MerkleFrontier(0, {})
    for leaf in LEAVES[:size]:
        appended.append(leaf)
    lookup = Lookup(size)  # from_nodes may only read nodes complete at ``size``
    restored = MerkleFrontier.from_nodes(size, lookup)
    assert restored.size == appended.size == size
    assert restored.edge == appended.edge
    assert lookup.calls == bin(size).count("1")
    for leaf in LEAVES[size : size + EXTRA]:
        produced = restored.append(leaf)
        assert produced == appended.append(leaf)
        for level, index, value in produced:
            assert STORE[(level, index)] == value
    assert restored.size == appended.size == min(size + EXTRA, len(LEAVES))
    assert root(restored.size, Lookup(restored.size)) == mth(ENTRIES[: restored.size])


# --- exhaustive cross-checks against the independent reference ---------------------------------


def test_roots_equal_mth_for_every_size() -> None:
    for size in range(MAX_SIZE + 1):
        lookup = Lookup(size)
        assert root(size, lookup) == ROOTS[size], size
        assert lookup.calls <= max(size.bit_length(), 1)  # one node per set bit of size


def test_subtree_hash_is_mth_of_any_range() -> None:
    """subtree_hash(start, end) = MTH(D[start:end]) for every range, aligned or not; it never
    reads a node past ``end``."""
    for end in range(1, 41):
        for start in range(end):
            expected = mth(ENTRIES[start:end])
            assert merkle.subtree_hash(start, end, Lookup(end)) == expected, (start, end)


def test_every_inclusion_proof_verifies() -> None:
    checked = 0
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            lookup = Lookup(size)
            path = inclusion_path(index, size, lookup)
            assert verify_inclusion(LEAVES[index], index, size, path, ROOTS[size]), (index, size)
            assert len(path) == len(_sides(index, size))
            assert lookup.calls <= (size.bit_length() + 1) ** 2  # O(log² n), as documented
            checked += 1
    assert checked == MAX_SIZE * (MAX_SIZE + 1) // 2


def test_inclusion_proofs_equal_the_literal_rfc_definition() -> None:
    for size in range(1, 41):
        for index in range(size):
            assert inclusion_path(index, size, Lookup(size)) == reference_inclusion_path(
                index, ENTRIES[:size]
            ), (index, size)


def test_every_consistency_proof_verifies() -> None:
    checked = 0
    for second in range(1, MAX_CONSISTENCY + 1):
        for first in range(1, second + 1):
            lookup = Lookup(second)
            path = consistency_path(first, second, lookup)
            assert verify_consistency(first, second, ROOTS[first], ROOTS[second], path), (
                first,
                second,
            )
            assert lookup.calls <= (second.bit_length() + 1) ** 2
            checked += 1
    assert checked == MAX_CONSISTENCY * (MAX_CONSISTENCY + 1) // 2


def test_consistency_proofs_equal_the_literal_rfc_definition() -> None:
    for second in range(1, 41):
        for first in range(1, second + 1):
            assert consistency_path(first, second, Lookup(second)) == reference_consistency_path(
                first, ENTRIES[:second]
            ), (first, second)


# --- inclusion: what must not verify -----------------------------------------------------------

NEGATIVE_SIZES = range(1, 34)  # every index of these sizes; covers 1, 2^k - 1, 2^k, 2^k + 1


def _inclusion_cases() -> list[tuple[int, int, list[bytes]]]:
    cases = []
    for size in NEGATIVE_SIZES:
        for index in range(size):
            path = inclusion_path(index, size, Lookup(size))
            assert verify_inclusion(LEAVES[index], index, size, path, ROOTS[size])  # control
            cases.append((index, size, path))
    return cases


def test_inclusion_rejects_a_wrong_index() -> None:
    for index, size, path in _inclusion_cases():
        for other in [*range(-2, size + 3)]:
            if other != index:
                assert not verify_inclusion(LEAVES[index], other, size, path, ROOTS[size]), (
                    index,
                    other,
                    size,
                )


def test_inclusion_rejects_a_wrong_size() -> None:
    accepted_same_shape = 0
    for index, size, path in _inclusion_cases():
        for other in range(0, size + 9):
            if other == size:
                continue
            # Against the other size's own root: never.
            if other <= MAX_SIZE:
                assert not verify_inclusion(LEAVES[index], index, other, path, ROOTS[other]), (
                    index,
                    size,
                    other,
                )
            # Against the same root: an RFC 9162 inclusion proof does not encode the size, so
            # it verifies exactly when the leaf's siblings sit on the same sides at that size
            # (e.g. leaf 0 in sizes 7 and 8); otherwise the sn bookkeeping must reject it.
            same_shape = other > index and _sides(index, other) == _sides(index, size)
            got = verify_inclusion(LEAVES[index], index, other, path, ROOTS[size])
            assert got == same_shape, (index, size, other)
            accepted_same_shape += same_shape
    assert accepted_same_shape > 0  # the oracle distinguishes both outcomes


def test_inclusion_rejects_an_altered_path_element() -> None:
    for index, size, path in _inclusion_cases():
        for i in range(len(path)):
            for byte in (0, 31):
                altered = path[:i] + [_flip(path[i], byte)] + path[i + 1 :]
                assert not verify_inclusion(LEAVES[index], index, size, altered, ROOTS[size])
        for i in range(len(path) - 1):  # swapped neighbours
            swapped = path[:i] + [path[i + 1], path[i]] + path[i + 2 :]
            assert not verify_inclusion(LEAVES[index], index, size, swapped, ROOTS[size])


def test_inclusion_rejects_a_truncated_path() -> None:
    for index, size, path in _inclusion_cases():
        for i in range(len(path)):
            shorter = path[:i] + path[i + 1 :]
            assert not verify_inclusion(LEAVES[index], index, size, shorter, ROOTS[size])
        if path:
            assert not verify_inclusion(LEAVES[index], index, size, [], ROOTS[size])


def test_inclusion_rejects_an_extended_path() -> None:
    for index, size, path in _inclusion_cases():
        for extra in (bytes(32), LEAVES[index], ROOTS[size], path[-1] if path else LEAVES[0]):
            assert not verify_inclusion(LEAVES[index], index, size, path + [extra], ROOTS[size])
            assert not verify_inclusion(LEAVES[index], index, size, [extra] + path, ROOTS[size])
            # Even against the root that the longer path really hashes to (step 4a: sn is 0).
            forged_root = hash_children(extra, ROOTS[size])
            assert not verify_inclusion(LEAVES[index], index, size, path + [extra], forged_root)


def test_inclusion_rejects_a_wrong_leaf_or_root() -> None:
    for index, size, path in _inclusion_cases():
        for other in range(size + 1):
            if other != index:
                assert not verify_inclusion(LEAVES[other], index, size, path, ROOTS[size])
        assert not verify_inclusion(ENTRIES[index], index, size, path, ROOTS[size])  # unhashed
        assert not verify_inclusion(_flip(LEAVES[index], 31), index, size, path, ROOTS[size])
        assert not verify_inclusion(LEAVES[index], index, size, path, _flip(ROOTS[size]))
        for other in range(MAX_SIZE + 1):
            if other != size:
                assert not verify_inclusion(LEAVES[index], index, size, path, ROOTS[other])


# --- consistency: what must not verify ---------------------------------------------------------

NEGATIVE_PAIRS = [(f, s) for s in range(1, 26) for f in range(1, s + 1)]


def _consistency_cases() -> list[tuple[int, int, list[bytes]]]:
    cases = []
    for first, second in NEGATIVE_PAIRS:
        path = consistency_path(first, second, Lookup(second))
        assert verify_consistency(first, second, ROOTS[first], ROOTS[second], path)  # control
        cases.append((first, second, path))
    return cases


def test_consistency_of_equal_sizes() -> None:
    for size in range(1, 20):
        assert consistency_path(size, size, Lookup(size)) == []
        assert verify_consistency(size, size, ROOTS[size], ROOTS[size], [])
        assert not verify_consistency(size, size, ROOTS[size], ROOTS[size], [ROOTS[size]])
        assert not verify_consistency(size, size, ROOTS[size], ROOTS[size + 1], [])
        assert not verify_consistency(size, size, ROOTS[size], _flip(ROOTS[size]), [])


def test_consistency_rejects_wrong_roots() -> None:
    for first, second, path in _consistency_cases():
        r1, r2 = ROOTS[first], ROOTS[second]
        assert not verify_consistency(first, second, _flip(r1), r2, path)
        assert not verify_consistency(first, second, r1, _flip(r2), path)
        if first != second:  # (equal sizes with equally altered roots is a valid claim)
            assert not verify_consistency(first, second, _flip(r1, 31), _flip(r2, 31), path)
            assert not verify_consistency(first, second, r2, r1, path)
        for other in range(1, MAX_SIZE + 1):
            if other != first:
                assert not verify_consistency(first, second, ROOTS[other], r2, path)
            if other != second:
                assert not verify_consistency(first, second, r1, ROOTS[other], path)


def test_consistency_rejects_wrong_sizes() -> None:
    length_mismatches = 0
    for first, second, path in _consistency_cases():
        for other in range(-1, second + 9):
            claims = [(other, second)] if other != first else []
            if other != second:
                claims.append((first, other))
            for f, s in claims:
                # With the roots of the claimed sizes: never.
                if 0 <= f <= MAX_SIZE and 0 <= s <= MAX_SIZE:
                    assert not verify_consistency(f, s, ROOTS[f], ROOTS[s], path), (
                        first,
                        second,
                        f,
                        s,
                    )
                # With the original roots: like inclusion proofs, a consistency proof does not
                # encode the sizes, but a proof of the wrong length for (f, s) can never pass.
                if 0 < f <= s <= MAX_SIZE:
                    expected_length = len(reference_consistency_path(f, ENTRIES[:s]))
                    if expected_length != len(path):
                        got = verify_consistency(f, s, ROOTS[first], ROOTS[second], path)
                        assert not got, (first, second, f, s)
                        length_mismatches += 1
                else:
                    assert not verify_consistency(f, s, ROOTS[first], ROOTS[second], path)
    assert length_mismatches > 0


def test_consistency_rejects_an_altered_path_element() -> None:
    for first, second, path in _consistency_cases():
        for i in range(len(path)):
            for byte in (0, 31):
                altered = path[:i] + [_flip(path[i], byte)] + path[i + 1 :]
                assert not verify_consistency(first, second, ROOTS[first], ROOTS[second], altered)
        for i in range(len(path) - 1):
            swapped = path[:i] + [path[i + 1], path[i]] + path[i + 2 :]
            assert not verify_consistency(first, second, ROOTS[first], ROOTS[second], swapped)


def test_consistency_rejects_a_truncated_path() -> None:
    for first, second, path in _consistency_cases():
        for i in range(len(path)):
            shorter = path[:i] + path[i + 1 :]
            assert not verify_consistency(first, second, ROOTS[first], ROOTS[second], shorter)
        if first != second:  # step 1: an empty path proves nothing (and must not raise)
            assert not verify_consistency(first, second, ROOTS[first], ROOTS[second], [])


def test_consistency_rejects_an_extended_path() -> None:
    for first, second, path in _consistency_cases():
        r1, r2 = ROOTS[first], ROOTS[second]
        for extra in (bytes(32), r1, r2, path[-1] if path else LEAVES[0]):
            assert not verify_consistency(first, second, r1, r2, path + [extra])
            assert not verify_consistency(first, second, r1, r2, [extra] + path)
            if first != second:
                # Even against the roots the longer path really hashes to (step 6a: sn is 0).
                forged = hash_children(extra, r1), hash_children(extra, r2)
                assert not verify_consistency(first, second, *forged, path + [extra])


def test_consistency_rejects_sizes_outside_the_rfc() -> None:
    path = consistency_path(3, 7, Lookup(7))
    assert verify_consistency(3, 7, ROOTS[3], ROOTS[7], path)
    assert not verify_consistency(0, 7, ROOTS[0], ROOTS[7], path)
    assert not verify_consistency(0, 7, ROOTS[0], ROOTS[7], [])
    assert not verify_consistency(0, 0, ROOTS[0], ROOTS[0], [])
    assert not verify_consistency(-1, 7, ROOTS[3], ROOTS[7], path)
    assert not verify_consistency(7, 3, ROOTS[7], ROOTS[3], path)
    assert not verify_consistency(7, 3, ROOTS[3], ROOTS[7], path)


# --- argument checking ---------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (6, 5), (-1, 5), (-1, 0)])
def test_inclusion_path_rejects_out_of_range(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        inclusion_path(index, size, Lookup(max(size, 0)))


@pytest.mark.parametrize(("first", "second"), [(0, 0), (0, 5), (-1, 5), (6, 5), (1, 0)])
def test_consistency_path_rejects_out_of_range(first: int, second: int) -> None:
    with pytest.raises(ValueError):
        consistency_path(first, second, Lookup(max(second, 0)))


# --- the verifier module itself --------------------------------------------------------------------


def test_verifier_refuses_hex_strings_loudly() -> None:
    path = inclusion_path(2, 5, Lookup(5))
    with pytest.raises(TypeError):
        verify_inclusion(LEAVES[2].hex(), 2, 5, path, ROOTS[5])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_inclusion(LEAVES[2], 2, 5, [p.hex() for p in path], ROOTS[5])  # type: ignore[misc]
    with pytest.raises(TypeError):
        verify_consistency(2, 5, ROOTS[2].hex(), ROOTS[5], [])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", ["", "00", "AB" * 32, "g" * 64, "0" * 63, "0" * 65, " " + "0" * 63, "0x" + "0" * 62]
)
def test_unhex_accepts_only_lowercase_sha256_hex(bad: str) -> None:
    with pytest.raises(ValueError):
        unhex(bad)


def test_unhex_round_trip() -> None:
    assert unhex(ROOTS[8].hex()) == ROOTS[8]
    assert unhex_path([p.hex() for p in LEAVES[:3]]) == LEAVES[:3]
    with pytest.raises(TypeError):
        unhex_path(ROOTS[8].hex())  # type: ignore[arg-type]


