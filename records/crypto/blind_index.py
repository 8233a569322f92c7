"""Keyed blind indexes: exact-match lookup by customer phone or account without storing either.

HMAC-SHA256 under a key of its own (not a KEK), over a normalised value, with a per-field
label so that equal phone and account strings do not share an index value. Without the key the
stored digests reveal nothing, not even which records share a phone number.

Every identifier goes through one normalisation, ``normalise_identifier``, wherever it enters:
filing, amending, search, holds, retention events, masking. Input methods produce full-width
digits (``１３８``), other scripts have digits of their own (``١٣٨``, ``१३८``) and dashes come in
many widths; all of them mean the same number.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

# Dashes that are not U+002D after NFKC: en/em dashes, the minus sign, the small/full-width forms
# NFKC keeps apart (category Pd covers most; U+2212 MINUS SIGN is a math symbol).
_EXTRA_DASHES = {"\u2212", "\u2043", "\u02d7"}


def normalise_identifier(value: str) -> str:
    """NFKC, every Unicode decimal digit as its ASCII digit, every dash as '-', every run of white
    space (ideographic space included) as one ' ', stripped. Letters keep their case: each index
    decides whether case matters."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", value):
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            out.append(str(digit))
        elif ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        elif ch in _EXTRA_DASHES or unicodedata.category(ch) == "Pd":
            out.append("-")
        else:
            out.append(ch)
    return "".join(out).strip()


def phone_digits(phone: str) -> str:
    """The phone's digits, whatever script or width they were typed in."""
    return "".join(ch for ch in normalise_identifier(phone) if "0" <= ch <= "9")


def normalise_phone(phone: str) -> str:
    """Digits only, without China's country code, so '+86 138-1234-5678' finds '13812345678'."""
    digits = phone_digits(phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix):]
    return digits


def normalise_account(account: str) -> str:
    """Letter case, Unicode width, the script of digits and white space do not distinguish
    accounts; punctuation does (every dash is one '-')."""
    return normalise_identifier(account).replace(" ", "").upper()


def normalise_name(name: str) -> str:
    """A name as compared: case-folded, single spaces."""
    return normalise_identifier(name).casefold()


class BlindIndex:
    """The identifier indexes a record can be looked up by; ``INDEXES`` names each one."""

    INDEXES = ("customer.phone", "customer.account")

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _digest(self, label: str, value: str) -> str:
        return hmac.new(self._key, f"{label}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def phone(self, phone: str) -> str:
        return self._digest("customer.phone", normalise_phone(phone))

    def account(self, account: str) -> str:
        return self._digest("customer.account", normalise_account(account))

    def value(self, index: str, value: str) -> str:
        """The blind-index value of ``value`` in the index named ``index`` (one of ``INDEXES``)."""
        if index == "customer.phone":
            return self.phone(value)
        if index == "customer.account":
            return self.account(value)
        raise ValueError(f"no blind index is named {index!r}")
