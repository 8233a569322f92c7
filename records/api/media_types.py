"""Request bodies are read as the media type they are declared to be, and only that.

litestar parses a route's JSON body whatever ``Content-Type`` came with it, so a form post or a
``text/plain`` request from a page on another site (which a browser sends without asking the
server first) was filed as if it were JSON. ``require_json`` runs before every route whose body
is JSON and answers 415 to any other declared type, or none."""

from __future__ import annotations

from litestar import Request
from litestar.enums import RequestEncodingType

from records.errors import UnsupportedMediaType


def is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type (``application/merge-patch+json``), any parameters."""
    essence = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = essence.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def takes_json(request: Request) -> bool:
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    return data is not None and getattr(data.kwarg_definition, "media_type", None) is RequestEncodingType.JSON


async def require_json(request: Request) -> None:
    """``before_request`` hook of the app: 415 ``unsupported_media_type`` for a JSON route's body
    sent as anything but JSON. A request with no body is left to the route's own validation."""
    if not takes_json(request):
        return
    length = request.headers.get("content-length")
    if length == "0" or (length is None and "transfer-encoding" not in request.headers):
        return
    if not is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType("send the body as application/json")
