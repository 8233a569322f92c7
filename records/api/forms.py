"""Small ``multipart/form-data`` bodies read whole, with a limit per field (plugin uploads).

Unlike attachments, a plugin wheel is needed whole (its signature covers every byte), and it is
small (``RECORDS_MAX_PLUGIN_BYTES``): the parser still counts every byte as it arrives, so an
oversized body is refused before it is held.
"""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import InternalServerException
from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser, parse_options_header

from records.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType, UploadIncomplete


async def read_form(request: Request, limits: dict[str, int]) -> tuple[dict[str, bytes], dict[str, str]]:
    """The fields named in ``limits`` (each at most its limit in bytes), and the file names sent."""
    budget = sum(limits.values()) + 64 * 1024  # the envelope adds a little
    if (request.content_length or 0) > budget:
        raise PayloadTooLarge(f"the body may be at most {budget} bytes")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedMediaType(f"send multipart/form-data with the fields {', '.join(limits)}")
    try:
        parser = PushMultipartParser(options["boundary"], max_header_count=16, max_segment_count=16)
    except (MultipartError, ValueError) as exc:
        raise InvalidInput(f"malformed multipart boundary: {exc}") from None
    fields: dict[str, bytearray] = {}
    filenames: dict[str, str] = {}
    current: str | None = None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > budget:
                raise PayloadTooLarge(f"the body may be at most {budget} bytes")
            for event in parser.parse(chunk):
                if isinstance(event, MultipartSegment):
                    if event.name in fields:
                        raise InvalidInput(f"send the field {event.name!r} once", field=event.name)
                    current = event.name if event.name in limits else None
                    if current is not None:
                        fields[current] = bytearray()
                        filenames[current] = event.filename or ""
                elif event is None:
                    current = None
                elif current is not None:
                    fields[current] += event
                    if len(fields[current]) > limits[current]:
                        raise PayloadTooLarge(f"{current} may be at most {limits[current]} bytes")
            if not chunk:
                break
    except ParserLimitReached as exc:  # too many parts, or a header line too long
        raise PayloadTooLarge(f"multipart body beyond limits: {exc}") from None
    except MultipartError as exc:  # every other parser complaint (state, syntax)
        raise InvalidInput(f"malformed multipart body: {exc}") from None
    except InternalServerException:
        raise UploadIncomplete("the client disconnected before the body was complete") from None
    if not parser.closed:
        raise UploadIncomplete("the multipart body ended before its closing boundary")
    missing = [name for name in limits if name not in fields]
    if missing:
        raise InvalidInput(f"the body lacks the field(s) {', '.join(missing)}", field=missing[0])
    return {k: bytes(v) for k, v in fields.items()}, filenames
