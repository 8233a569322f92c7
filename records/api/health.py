"""``/health``: liveness and storage reachability, without authentication."""

from __future__ import annotations

from litestar import Request, Response, get
from pydantic import BaseModel

from records import __version__


class Health(BaseModel):
    status: str
    version: str
    store: str


@get("/health", operation_id="health", summary="Service health", tags=["health"])
async def health(request: Request) -> Response[Health]:
    storage = request.app.state.storage
    await storage.ping()  # StorageUnavailable → 503 problem
    return Response(Health(status="ok", version=__version__, store=storage.name))
