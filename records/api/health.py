"""``/health``: liveness and storage reachability, without authentication."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get
from litestar.di import Provide
from litestar.params import Dependency
from pydantic import BaseModel

from records import __version__
from records.api.dependencies import provide_storage
from records.ports import Storage


class Health(BaseModel):
    status: str
    version: str
    store: str


# Storage is a Protocol, which the signature model cannot check an instance against: not validated.
@get("/health", operation_id="health", summary="Service health", tags=["health"],
     dependencies={"storage": Provide(provide_storage, sync_to_thread=False)})
async def health(storage: Annotated[Storage, Dependency(skip_validation=True)]) -> Response[Health]:
    await storage.ping()  # StorageUnavailable → 503 problem
    return Response(Health(status="ok", version=__version__, store=storage.name))
