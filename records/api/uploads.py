"""Streaming ``multipart/form-data`` attachment uploads.

litestar's form parsing reads the whole body into memory, so uploads use the sans-io
``multipart.PushMultipartParser`` (already a litestar dependency) over ``request.stream()``:
bytes of the ``file`` part flow to the blob store as they arrive and memory stays bounded
whatever the size of the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Request
from litestar.exceptions import InternalServerException
from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser, parse_options_header

from records.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType, UploadIncomplete
from records.services.records import UploadMeta

FILE_FIELD = "file"


class MultipartUpload:
    """One file taken from the ``file`` field of a multipart request body."""

    def __init__(self, request: Request, max_bytes: int) -> None:
        # The multipart envelope adds a little to the file; allow for it rather than refuse a file at the limit.
        self._max_body = max_bytes + 64 * 1024
        if (request.content_length or 0) > self._max_body:
            raise PayloadTooLarge(f"attachments may be at most {max_bytes} bytes")
        self._max_bytes = max_bytes
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        if content_type != "multipart/form-data" or not options.get("boundary"):
            raise UnsupportedMediaType("send the attachment as multipart/form-data with a 'file' field")
        try:
            self._parser = PushMultipartParser(options["boundary"], max_header_count=16, max_segment_count=64)
        except (MultipartError, ValueError) as exc:
            raise InvalidInput(f"malformed multipart boundary: {exc}", field=FILE_FIELD) from None
        self._body = request.stream()
        self._pending: list[bytes] = []  # file bytes parsed from the chunk that carried the headers
        self._in_file = False
        self._file_done = False
        self._file_bytes = 0

    async def _events(self) -> AsyncIterator[MultipartSegment | bytes | None]:
        try:
            received = 0
            async for chunk in self._body:
                received += len(chunk)
                if received > self._max_body:
                    raise PayloadTooLarge(f"attachments may be at most {self._max_bytes} bytes")
                for event in self._parser.parse(chunk):
                    yield event
                if not chunk:  # litestar ends the stream with b"", which closes the parser
                    break
        except ParserLimitReached as exc:  # too many parts, or a header line too long
            raise PayloadTooLarge(f"multipart body beyond limits: {exc}") from None
        except MultipartError as exc:  # every other parser complaint (state, syntax)
            raise InvalidInput(f"malformed multipart body: {exc}", field=FILE_FIELD) from None
        except InternalServerException:
            raise UploadIncomplete("the client disconnected before the upload finished") from None
        if not self._parser.closed:
            raise UploadIncomplete("the multipart body ended before its closing boundary")

    async def begin(self) -> UploadMeta:
        self._stream = self._events()
        async for event in self._stream:
            if isinstance(event, MultipartSegment):
                if event.name == FILE_FIELD:
                    self._in_file = True
                    return UploadMeta(filename=event.filename or "attachment", content_type=event.content_type or "")
        raise InvalidInput("the multipart body has no 'file' field", field=FILE_FIELD)

    async def chunks(self) -> AsyncIterator[bytes]:
        async for event in self._stream:
            if isinstance(event, MultipartSegment):
                if event.name == FILE_FIELD:
                    raise InvalidInput("send exactly one 'file' field per upload", field=FILE_FIELD)
            elif event is None:
                if self._in_file:
                    self._in_file, self._file_done = False, True
            elif self._in_file:
                self._file_bytes += len(event)
                if self._file_bytes > self._max_bytes:
                    raise PayloadTooLarge(f"attachments may be at most {self._max_bytes} bytes")
                yield event
        # Only a body that reached its closing boundary counts: a cut-off upload stores nothing.
        if not self._file_done:
            raise UploadIncomplete("the 'file' part ended before its boundary")
