"""Keyed blind indexes: exact-match lookup by customer phone or account without storing either.

HMAC-SHA256 under a key of its own (not a KEK), over a normalised value, with a per-field
label so that equal phone and account strings do not share an index value. Without the key the
stored digests reveal nothing, not even which records share a phone number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

_NON_DIGITS = re.compile(r"\D")


def normalise_phone(phone: str) -> str:
    """Digits only, without China's country code, so '+86 138-1234-5678' finds '13812345678'."""
    digits = _NON_DIGITS.sub("", phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix):]
    return digits


def normalise_account(account: str) -> str:
    """Letter case, Unicode width and whitespace do not distinguish accounts; punctuation does."""
    return "".join(unicodedata.normalize("NFKC", account).split()).upper()


class BlindIndex:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _digest(self, label: str, value: str) -> str:
        return hmac.new(self._key, f"{label}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def phone(self, phone: str) -> str:
        return self._digest("customer.phone", normalise_phone(phone))

    def account(self, account: str) -> str:
        return self._digest("customer.account", normalise_account(account))
