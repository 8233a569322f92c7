"""Keep personal data out of the server's access log.

Queries such as ``?customer_phone=13812345678`` carry personal data (GB/T 35273-2020), so the
access log records paths without their query strings.
"""

from __future__ import annotations

import logging


class DropQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access records carry (client, method, path with query, http version, status).
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            args = list(record.args)
            args[2] = args[2].split("?", 1)[0]
            record.args = tuple(args)
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(DropQueryStrings())
