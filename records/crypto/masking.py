"""Masking personal data for roles that do not need a customer's identity (GB/T 35273-2020 §6.2:
show only what the purpose needs)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

MASK = "*"


def mask_phone(phone: str) -> str:
    """'13812345678' → '138****5678': keep the operator prefix and the last four digits."""
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(digits) <= 7:
        keep = set(digits[-2:])
    else:
        keep = set(digits[:3]) | set(digits[-4:])
    return "".join(ch if (i in keep or not ch.isdigit()) else MASK for i, ch in enumerate(phone))


def mask_name(name: str) -> str:
    """'张三' → '张*', 'Li Wei' → 'L* W**': the first character of each part."""
    return " ".join(part[:1] + MASK * (len(part) - 1) for part in name.split(" ")) if name else name


def mask_account(account: str) -> str:
    """'ACC-1001' → 'AC****01': two characters at each end."""
    if len(account) <= 4:
        return MASK * len(account)
    return account[:2] + MASK * (len(account) - 4) + account[-2:]


# --- free text --------------------------------------------------------------------------------------
#
# Notes, communications, filenames and the other texts of a file are written by people, who write
# down what they hear: "called 张三 at 13987654321". For roles that see customers masked, the
# file's own identifiers and the shapes of common personal data are masked wherever they occur.
# The patterns run over a copy of the text with every character mapped one to one (full-width and
# other scripts' digits to ASCII, full-width letters and signs to ASCII, dashes to '-'), so a match
# gives positions in the original and input-method variants are caught like ASCII ones.

_D = r"(?<![0-9])"  # not inside a longer number
_E = r"(?![0-9])"
_SEP = r"[ \-]?"
# ID card (GB 11643-1999): region, birth date, sequence, check digit (X for 10).
_ID_CARD = re.compile(_D + r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]" + _E)
# Mainland mobile numbers, with or without +86 / 0086, written straight or in 3-4-4 groups.
_MOBILE = re.compile(_D + r"(?:(?:\+|00)?86" + _SEP + r")?1[3-9][0-9]" + _SEP + r"[0-9]{4}" + _SEP + r"[0-9]{4}" + _E)
# Landlines: area code (010, 021, 0755…) and a 7-8 digit number, optionally an extension.
_LANDLINE = re.compile(r"(?:" + _D + r"\(0[1-9][0-9]{1,2}\)|" + _D + r"0[1-9][0-9]{1,2})" + r"[ \-]?[0-9]{3,4}[ \-]?[0-9]{4}" + _E)
# Bank cards: 15 to 19 digits, straight or grouped by four.
_BANK_CARD = re.compile(_D + r"[0-9](?:[ \-]?[0-9]){14,18}" + _E)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")


def _one_to_one(text: str) -> str:
    """``text`` with each character replaced by its plain form when that is one ASCII character."""
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            out.append(str(digit))
            continue
        plain = unicodedata.normalize("NFKC", ch)
        if len(plain) == 1 and plain.isascii() and not plain.isspace():
            out.append(plain)
        elif ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) == "Pd" or ch == "\u2212":
            out.append("-")
        else:
            out.append(ch)
    return "".join(out)


def _keep_digits(span: str, first: int, last: int) -> set[int]:
    """Positions in ``span`` of the first ``first`` and last ``last`` digits."""
    digits = [i for i, ch in enumerate(span) if ch.isdigit()]
    return set(digits[:first]) | set(digits[len(digits) - last:] if last else [])


def _mask_digits(keep: Callable[[str], set[int]]) -> Callable[[str], set[int]]:
    def masked(span: str) -> set[int]:
        kept = keep(span)
        return {i for i, ch in enumerate(span) if (ch.isdigit() or ch in "Xx") and i not in kept}

    return masked


def _mobile_kept(span: str) -> set[int]:
    digits = [i for i, ch in enumerate(span) if ch.isdigit()]
    national = digits[-11:]
    return set(digits[:-11]) | set(national[:3]) | set(national[-4:])  # country code, prefix, last four


def _area_code_length(span: str) -> int:
    """010 and 02x are three digits long, every other area code four."""
    digits = "".join(ch for ch in span if ch.isdigit())
    return 3 if digits[1] in "12" else 4


def _email_masked(span: str) -> set[int]:
    local = span.index("@")
    return set(range(1, local))


def _all_but_edges(span: str) -> set[int]:
    """Every letter and digit but the first and last (an account, a name): what mask_account does."""
    positions = [i for i, ch in enumerate(span) if ch.isalnum()]
    if len(positions) <= 2:
        return set(positions)
    return set(positions[1:-1]) if len(positions) <= 4 else set(positions[2:-2])


def _name_masked(span: str) -> set[int]:
    """As mask_name: the first character of each part of a Latin name, of a Chinese name only its
    first (the family name), however it was spaced."""
    if not span.isascii():
        letters = [i for i, ch in enumerate(span) if not ch.isspace()]
        return set(letters[1:])
    masked, first = set(), True
    for i, ch in enumerate(span):
        if ch.isspace():
            first = True
        elif first:
            first = False
        else:
            masked.add(i)
    return masked


# Most specific first: an ID card number is not also masked as a bank card; a span already masked
# is not matched again.
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[str], set[int]]], ...] = (
    (_EMAIL, _email_masked),
    (_ID_CARD, lambda s: set(range(1, len(s) - 1))),  # the first digit and the check digit stay
    (_MOBILE, _mask_digits(_mobile_kept)),
    (_BANK_CARD, _mask_digits(lambda s: _keep_digits(s, 0, 4))),
    (_LANDLINE, _mask_digits(lambda s: _keep_digits(s, _area_code_length(s), 2))),
)


def _identifier_patterns(identifiers: Iterable[str | None]) -> list[tuple[re.Pattern[str], Callable[[str], set[int]]]]:
    """Patterns finding the file's own identifiers however they are written: a number by its
    digits in any grouping, an account as one word in any case, a name with any spacing."""
    found: list[tuple[re.Pattern[str], Callable[[str], set[int]]]] = []
    for value in identifiers:
        plain = _one_to_one(value or "").strip()
        if len(plain) < 2:
            continue
        digits = "".join(ch for ch in plain if ch.isdigit())
        if len(digits) >= 5 and not any(ch.isalpha() for ch in plain):
            if len(digits) == 13 and digits.startswith("86"):
                digits = digits[2:]
            body = r"[ \-]?".join(digits)
            kept = _mobile_kept if len(digits) == 11 else (lambda s: _keep_digits(s, 0, 2))
            found.append((re.compile(_D + r"(?:(?:\+|00)?86[ \-]?)?" + body + _E), _mask_digits(kept)))
        elif any(ch.isdigit() for ch in plain) and " " not in plain:
            found.append((re.compile(r"(?<![A-Za-z0-9])" + re.escape(plain) + r"(?![A-Za-z0-9])", re.IGNORECASE),
                          _all_but_edges))
        else:
            # Words of a Latin name may be spaced any way; the characters of a Chinese one too (张 三).
            parts = plain.split() if plain.isascii() else [ch for ch in plain if not ch.isspace()]
            found.append((re.compile(r"\s*".join(re.escape(w) for w in parts), re.IGNORECASE), _name_masked))
    # Longest first, so that a full name is masked before a part of it could be.
    return sorted(found, key=lambda p: len(p[0].pattern), reverse=True)


def mask_text(text: str | None, identifiers: Iterable[str | None] = ()) -> str | None:
    """``text`` with the file's own customer identifiers (``identifiers``: name, phone, account)
    and every mainland mobile or landline number, 18-digit ID card number, bank card number and
    e-mail address masked, keeping what tells them apart in a work list (a phone's prefix and last
    four digits, a card's last four, an e-mail's first letter and domain)."""
    if not text:
        return text
    plain = _one_to_one(text)
    masked: set[int] = set()
    taken: list[tuple[int, int]] = []
    for pattern, positions in (*_identifier_patterns(identifiers), *_PATTERNS):
        for match in pattern.finditer(plain):
            start, end = match.span()
            if start == end or any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            masked.update(start + i for i in positions(match.group()))
    if not masked:
        return text
    return "".join(MASK if i in masked else ch for i, ch in enumerate(text))
