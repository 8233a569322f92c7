"""Exception reports for logs, without the exceptions' messages: a message may quote whatever the
failing code was given (a plugin's ``ValueError(record.description)``, pydantic's echo of input
values), and no personal data may reach a log. Where it failed, and with what type, is kept.
Where an operator asks for messages (plugin failures at debug level), they come redacted."""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable


def traceback_without_messages(exc: BaseException) -> str:
    """The traceback of ``exc`` and of the exceptions it was raised from or during, each with its
    type in place of its message."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above exception was the direct cause of the following one:"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "During handling of the above exception, another occurred:"
        else:
            current = None
    parts: list[str] = []
    for error, joined_by in reversed(chain):
        frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
        parts.append(f"Traceback (most recent call last):\n{frames}"
                     f"{type(error).__module__}.{type(error).__qualname__} (message withheld from the log)")
        parts.append(joined_by)
    return "\n".join(p for p in parts if p).rstrip()


# What an exception message may quote that is personal data, whatever the code that raised it:
# quoted literals (``repr`` of a value, as ``int()`` and pydantic quote input), e-mail addresses,
# and any word holding three digits or more (phone, ID card, bank card and account numbers, in
# any script's digits: ``\d`` matches full-width ones too).
_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|“[^”]*”|‘[^’]*’|「[^」]*」""")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_NUMBERED_WORD = re.compile(r"[\w\-+.]*\d(?:[\s\-]?\d){2,}[\w\-.]*")
REDACTED = "<redacted>"
MAX_REDACTED_MESSAGE = 2000


def redact_message(message: str, identifiers: Iterable[str | None] = ()) -> str:
    """``message`` with the given identifiers (a file's customer name, phone, account) and every
    quoted literal, e-mail address and numbered word replaced by ``<redacted>``: what is left says
    what went wrong in the code's own words, not whose data it was handling."""
    text = message[:MAX_REDACTED_MESSAGE * 4]
    for identifier in sorted({i.strip() for i in identifiers if i and i.strip()}, key=len, reverse=True):
        text = text.replace(identifier, REDACTED)
    text = _QUOTED.sub(REDACTED, text)
    text = _EMAIL.sub(REDACTED, text)
    text = _NUMBERED_WORD.sub(REDACTED, text)
    return text[:MAX_REDACTED_MESSAGE]
