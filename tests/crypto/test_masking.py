"""``mask_text``: the file's own identifiers and common personal-data shapes, masked in free text,
as people and input methods write them."""

from __future__ import annotations

import pytest

from records.crypto.masking import mask_text

IDENTIFIERS = ("张三", "13987654321", "ACCT-YLW-55501")


@pytest.mark.parametrize(("text", "masked"), [
    # The file's own customer, however written.
    ("called 张三 at 13987654321", "called 张* at 139****4321"),
    ("张 三 called back", "张 * called back"),
    ("call +86 139-8765-4321 now", "call +86 139-****-4321 now"),
    ("call 0086 139 8765 4321", "call 0086 139 **** 4321"),
    ("full width １３９８７６５４３２１", "full width １３９****４３２１"),
    ("account acct-ylw-55501 closed", "account ac**-***-***01 closed"),
    ("账户ＡＣＣＴ－ＹＬＷ－５５５０１停用", "账户ＡＣ＊＊－＊＊＊－＊＊＊０１停用".replace("＊", "*")),
    # Anyone's mobile and landline numbers.
    ("her husband: 13812345678.", "her husband: 138****5678."),
    ("office 010-87654321 ext 2", "office 010-******21 ext 2"),
    ("shop (0755) 8765 4321", "shop (0755) **** **21"),
    ("fax 02087654321", "fax 020******21"),
    # ID cards, bank cards, e-mail.
    ("ID 11010519491231002X on file", "ID 1****************X on file"),
    ("ID 110105194912310021", "ID 1****************1"),
    ("card 6222 0212 3456 7890", "card **** **** **** 7890"),
    ("card 6222021234567890123 refunded", "card ***************0123 refunded"),
    ("write to li.si@example.cn.", "write to l****@example.cn."),
    # Text without personal data is left alone, numbers that are not of these shapes too.
    ("No signal since Monday; ticket 2026-12-03, 3 visits, order 20261203", None),
    ("speed dropped to 100 Mbit/s at 21:30", None),
    ("", None),
])
def test_mask_text(text, masked):
    assert mask_text(text, IDENTIFIERS) == (text if masked is None else masked)


def test_without_identifiers_the_patterns_still_apply():
    assert mask_text("张三 13987654321 ACCT-YLW-55501") == "张三 139****4321 ACCT-YLW-55501"


def test_masked_text_keeps_its_length_and_everything_else():
    text = "回电 13987654321，客户张三，邮件 zhang.san@example.com，卡号 6222021234567890"
    masked = mask_text(text, IDENTIFIERS)
    assert len(masked) == len(text)
    assert all(a == b or b == "*" for a, b in zip(text, masked, strict=True))
    for secret in ("13987654321", "张三", "zhang.san", "6222021234567890"):
        assert secret not in masked


def test_none_is_none():
    assert mask_text(None, IDENTIFIERS) is None
