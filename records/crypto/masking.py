"""Masking personal data for roles that do not need a customer's identity (GB/T 35273-2020 §6.2:
show only what the purpose needs)."""

from __future__ import annotations

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
