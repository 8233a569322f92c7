"""Unit tests of the key machinery: sealed fields (envelope), blind-index normalisation, masking
and the local keyring (creation, cross-instance reload, retirement, refusing retiring KEKs)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path

import pytest

from records.crypto.blind_index import BlindIndex, normalise_account, normalise_phone
from records.crypto.envelope import TOKEN_PREFIX, DataKey, FieldIntegrityError, WrappedDataKey, rewrap
from records.crypto.keyring import LocalKeyring, parse_master_key
from records.crypto.masking import mask_account, mask_name, mask_phone
from records.errors import InvalidConfiguration, KeyUnavailable

# --- envelope: sealed fields -------------------------------------------------------------------


@pytest.fixture
def key() -> DataKey:
    return DataKey.generate("rec-0001")


@pytest.mark.parametrize("value", ["No signal since Monday", "张三 13812345678", "", "x" * 20_000, "emoji 📞\n\ttab"])
def test_seal_open_round_trip(key, value):
    token = key.seal("subject", value)
    assert token.startswith(TOKEN_PREFIX)
    assert value == "" or value not in token
    assert key.open("subject", token) == value


def test_sealing_twice_gives_different_tokens(key):
    # A fresh nonce every time: equal values must not be recognisable as equal at rest.
    assert key.seal("subject", "same") != key.seal("subject", "same")


def test_open_in_another_field_fails(key):
    token = key.seal("customer.phone", "13812345678")
    with pytest.raises(FieldIntegrityError) as caught:
        key.open("customer.name", token)
    assert caught.value.code == "field_integrity" and caught.value.status == 500
    assert "customer.name" in caught.value.detail


def test_open_in_another_record_fails_even_with_the_same_key_bytes(key):
    token = key.seal("subject", "secret")
    other_record = DataKey("rec-0002", key.key_version, key.key)
    with pytest.raises(FieldIntegrityError):
        other_record.open("subject", token)


def test_open_under_another_key_version_fails(key):
    token = key.seal("subject", "secret")
    with pytest.raises(FieldIntegrityError):
        DataKey(key.record_id, key.key_version + 1, key.key).open("subject", token)


def test_open_with_another_key_fails(key):
    token = key.seal("subject", "secret")
    with pytest.raises(FieldIntegrityError):
        DataKey(key.record_id, key.key_version, secrets.token_bytes(32)).open("subject", token)


def test_every_altered_or_cut_token_fails(key):
    token = key.seal("subject", "a subject of some length")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    body = token[len(TOKEN_PREFIX):]
    # Every position but the last (whose low bits may be padding), changed to another base64url character.
    for i in range(len(body) - 1):
        swapped = alphabet[(alphabet.index(body[i]) + 1) % len(alphabet)]
        with pytest.raises(FieldIntegrityError):
            key.open("subject", TOKEN_PREFIX + body[:i] + swapped + body[i + 1:])
    for bad in (token[:-4], token[: len(TOKEN_PREFIX) + 10], TOKEN_PREFIX, body, "v2." + body, "", "plain text"):
        with pytest.raises(FieldIntegrityError):
            key.open("subject", bad)


# --- envelope: wrapping data keys ------------------------------------------------------------------


def test_wrap_unwrap_round_trip_and_binding(tmp_path, key):
    keyring = LocalKeyring.open(tmp_path / "keyring")
    wrapped = key.wrap(keyring)
    assert wrapped.kek_id == keyring.active_kek_id() and key.key not in wrapped.wrapped
    assert DataKey.unwrap(wrapped, keyring).key == key.key
    # The wrapping is bound to its record, its key version and its KEK id.
    for moved in (
        WrappedDataKey("rec-0002", wrapped.key_version, wrapped.kek_id, wrapped.wrapped, wrapped.created_at),
        WrappedDataKey(wrapped.record_id, 2, wrapped.kek_id, wrapped.wrapped, wrapped.created_at),
        WrappedDataKey(wrapped.record_id, 1, wrapped.kek_id, wrapped.wrapped[:-1] + bytes([wrapped.wrapped[-1] ^ 1]), wrapped.created_at),
    ):
        with pytest.raises(KeyUnavailable):
            DataKey.unwrap(moved, keyring)


def test_rewrap_moves_the_same_key_to_the_active_kek(tmp_path, key):
    keyring = LocalKeyring.open(tmp_path / "keyring")
    old = key.wrap(keyring)
    new_kek = keyring.begin_rotation()
    moved = rewrap(old, keyring)
    assert moved.kek_id == new_kek != old.kek_id
    assert DataKey.unwrap(moved, keyring).key == key.key


# --- blind index --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("+86 (138) 1234 5678", "13812345678"),
        ("0086 138 1234 5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("(010) 6123-4567", "01061234567"),
        ("86123", "86123"),  # a short number starting 86 keeps its digits
        ("861381234567", "861381234567"),  # 86 + 10 digits: not a country code
        ("95588", "95588"),
    ],
)
def test_normalise_phone(raw, normal):
    assert normalise_phone(raw) == normal


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("ACC-1001", "ACC-1001"),
        ("acc-1001", "ACC-1001"),
        (" Acc - 1001 ", "ACC-1001"),
        ("acc\t-\u30001001", "ACC-1001"),  # tab and ideographic space
        ("ＡＣＣ－１００１", "ACC-1001"),  # full width
        ("ACC1001", "ACC1001"),
        ("ACC.1001", "ACC.1001"),  # punctuation distinguishes accounts
    ],
)
def test_normalise_account(raw, normal):
    assert normalise_account(raw) == normal


def test_blind_index_values():
    index = BlindIndex(b"k" * 32)
    digest = index.phone("13812345678")
    assert len(digest) == 64 and "13812345678" not in digest and "5678" not in digest
    assert index.phone("+86 138-1234-5678") == digest
    assert index.phone("13812345670") != digest
    assert index.account("acc - 1001") == index.account("ACC-1001") != index.account("ACC.1001")
    # Labels keep the two indexes apart, and without the key the digest cannot be recomputed.
    assert index.phone("1001") != index.account("1001")
    assert BlindIndex(b"j" * 32).phone("13812345678") != digest


# --- masking --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "+86 1**-****-5678"),
        ("1234567", "*****67"),
        ("95588", "***88"),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("Li Wei", "L* W**"), ("A", "A"), ("", "")],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("account", "masked"),
    [("ACC-1001", "AC****01"), ("ABCDE", "AB*DE"), ("ABCD", "****"), ("AB", "**"), ("7", "*")],
)
def test_mask_account(account, masked):
    assert mask_account(account) == masked


# --- keyring --------------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_and_reopen(tmp_path):
    directory = tmp_path / "keyring"
    keyring = LocalKeyring.open(directory)
    assert mode(directory) == 0o700 and mode(directory / "keyring.json") == 0o600
    [kek] = keyring.keks()
    assert kek.state == "active" and keyring.active_kek_id() == kek.kek_id
    assert len(keyring.index_key) == 32
    doc = json.loads((directory / "keyring.json").read_text())
    assert doc["protected_by_master_key"] is False and doc["active"] == kek.kek_id
    again = LocalKeyring.open(directory)
    assert again.active_kek_id() == kek.kek_id and again.index_key == keyring.index_key
    wrapped = keyring.wrap(kek.kek_id, b"d" * 32, b"ad")
    assert again.unwrap(kek.kek_id, wrapped, b"ad") == b"d" * 32
    with pytest.raises(KeyUnavailable):
        again.unwrap(kek.kek_id, wrapped, b"other ad")


def test_another_instance_sees_a_rotation_and_a_retirement(tmp_path):
    directory = tmp_path / "keyring"
    server, operator = LocalKeyring.open(directory), LocalKeyring.open(directory)
    old = server.active_kek_id()
    under_old = server.wrap(old, b"o" * 32, b"ad")

    new = operator.begin_rotation()
    assert new != old
    assert mode(directory / "keyring.json") == 0o600
    # The server re-reads the changed file: new keys go under the new KEK, old ones still open.
    assert server.active_kek_id() == new
    assert {k.kek_id: k.state for k in server.keks()} == {old: "retiring", new: "active"}
    under_new = operator.wrap(new, b"n" * 32, b"ad")
    assert server.unwrap(new, under_new, b"ad") == b"n" * 32
    assert server.unwrap(old, under_old, b"ad") == b"o" * 32

    material = json.loads((directory / "keyring.json").read_text())["keks"][old]["material"]
    operator.retire(old)
    doc = json.loads((directory / "keyring.json").read_text())
    assert doc["keks"][old]["state"] == "retired" and doc["keks"][old]["material"] == ""
    assert material not in (directory / "keyring.json").read_text()
    assert {k.kek_id: k.state for k in server.keks()} == {old: "retired", new: "active"}
    with pytest.raises(KeyUnavailable):
        server.unwrap(old, under_old, b"ad")
    with pytest.raises(KeyUnavailable):
        LocalKeyring.open(directory).unwrap(old, under_old, b"ad")


def test_retire_only_a_retiring_kek(tmp_path):
    keyring = LocalKeyring.open(tmp_path / "keyring")
    first = keyring.active_kek_id()
    with pytest.raises(KeyUnavailable):
        keyring.retire(first)  # active
    keyring.begin_rotation()
    keyring.retire(first)
    with pytest.raises(KeyUnavailable):
        keyring.retire(first)  # already retired


def test_wrap_with_a_retiring_kek_is_refused(tmp_path):
    keyring = LocalKeyring.open(tmp_path / "keyring")
    old = keyring.active_kek_id()
    new = keyring.begin_rotation()
    with pytest.raises(KeyUnavailable):
        keyring.wrap(old, b"k" * 32, b"ad")
    with pytest.raises(KeyUnavailable):
        keyring.wrap("kek-unknown", b"k" * 32, b"ad")
    assert keyring.unwrap(new, keyring.wrap(new, b"k" * 32, b"ad"), b"ad") == b"k" * 32


def test_wrap_with_a_kek_retired_elsewhere_is_refused(tmp_path):
    directory = tmp_path / "keyring"
    server, operator = LocalKeyring.open(directory), LocalKeyring.open(directory)
    old = server.active_kek_id()  # read just before the rotation
    operator.begin_rotation()
    operator.retire(old)
    with pytest.raises(KeyUnavailable):
        server.wrap(old, b"k" * 32, b"ad")  # would make a wrapping nobody can ever open


def test_master_key_seals_the_keyring(tmp_path):
    directory = tmp_path / "keyring"
    master = secrets.token_bytes(32)
    keyring = LocalKeyring.open(directory, master)
    keyring.begin_rotation()
    doc = json.loads((directory / "keyring.json").read_text())
    assert doc["protected_by_master_key"] is True
    secrets_in_file = [e["material"] for e in doc["keks"].values()] + [doc["index_key"]]
    assert all(value.startswith("sealed:") for value in secrets_in_file)
    assert LocalKeyring.open(directory, master).index_key == keyring.index_key
    for wrong in (None, secrets.token_bytes(32)):
        with pytest.raises(KeyUnavailable):
            LocalKeyring.open(directory, wrong)
    plain = LocalKeyring.open(tmp_path / "plain")
    with pytest.raises(KeyUnavailable):
        LocalKeyring.open(plain.directory, master)


def test_parse_master_key():
    raw = os.urandom(32)
    assert parse_master_key(base64.b64encode(raw).decode() + "\n") == raw
    for bad in ("not base64!!", base64.b64encode(os.urandom(16)).decode(), ""):
        with pytest.raises(InvalidConfiguration):
            parse_master_key(bad)


def test_unknown_keyring_format_is_refused(tmp_path):
    directory = tmp_path / "keyring"
    LocalKeyring.open(directory)
    doc = json.loads((directory / "keyring.json").read_text())
    doc["format"] = 99
    (directory / "keyring.json").write_text(json.dumps(doc))
    with pytest.raises(KeyUnavailable):
        LocalKeyring.open(directory)
