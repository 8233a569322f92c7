"""Keep personal data out of the server's log.

Queries such as ``?customer_phone=13812345678`` carry personal data (GB/T 35273-2020), so the
access log records paths without their query strings. Exceptions that escape to the server or
the event loop (uvicorn's "Exception in ASGI application", asyncio's unretrieved task errors)
are logged with their traceback but not their message, as the service's own failures are.
"""

from __future__ import annotations

import logging

from records.redaction import traceback_without_messages

# Loggers of the libraries under the service that log exceptions they catch.
EXCEPTION_LOGGERS = ("uvicorn.error", "uvicorn", "asyncio", "litestar")


class DropQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access records carry (client, method, path with query, http version, status).
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            args = list(record.args)
            args[2] = args[2].split("?", 1)[0]
            record.args = tuple(args)
        return True


class WithholdExceptionMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters print exc_text when it is set instead of formatting exc_info themselves.
            record.exc_text = traceback_without_messages(record.exc_info[1])
        return True


# Libraries whose INFO lines name what they handle: bagit prints the path of every file it puts in
# a transfer package, and attachment file names are an encrypted field.
CHATTY_LOGGERS = ("bagit",)


def quiet_libraries() -> None:
    """Only warnings and errors from ``CHATTY_LOGGERS``, whatever the server's log level."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(DropQueryStrings())
    for name in EXCEPTION_LOGGERS:
        logging.getLogger(name).addFilter(WithholdExceptionMessages())
