"""Exception reports for logs, without the exceptions' messages: a message may quote whatever the
failing code was given (a plugin's ``ValueError(record.description)``, pydantic's echo of input
values), and no personal data may reach a log. Where it failed, and with what type, is kept."""

from __future__ import annotations

import traceback


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
