"""Exception reports for logs keep where and what failed, never the messages."""

from __future__ import annotations

from records.redaction import traceback_without_messages

# Built at run time, so that no source line shown in a traceback contains it.
SECRET = "".join(["1381", "2345", "678"])


def _fails_with(value: str) -> None:
    raise ValueError(f"cannot parse {value}")


def test_report_keeps_frames_and_types_but_not_messages():
    try:
        try:
            _fails_with(SECRET)
        except ValueError as inner:
            raise RuntimeError(f"wrapped: {inner}") from inner
    except RuntimeError as exc:
        report = traceback_without_messages(exc)
    assert SECRET not in report
    assert "builtins.ValueError (message withheld from the log)" in report
    assert "builtins.RuntimeError (message withheld from the log)" in report
    assert "_fails_with" in report and "direct cause" in report
    assert report.index("ValueError (message") < report.index("RuntimeError (message")  # oldest first, as Python prints


def test_implicit_context_is_reported_and_suppressed_context_is_not():
    try:
        try:
            _fails_with(SECRET)
        except ValueError:
            raise KeyError(SECRET)  # noqa: B904 - the implicit context is what is tested
    except KeyError as exc:
        report = traceback_without_messages(exc)
    assert SECRET not in report and "During handling" in report and "ValueError (message" in report
    try:
        try:
            _fails_with(SECRET)
        except ValueError:
            raise KeyError(SECRET) from None
    except KeyError as exc:
        assert "ValueError" not in traceback_without_messages(exc)
