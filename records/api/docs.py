"""The service's own pages outside the API: the interactive API docs at ``/schema/swagger`` and the
front page at ``/``. Every asset they use is served from this package (``static/``), so the docs
work in a closed network: the Swagger UI is a pinned copy of ``swagger-ui-dist`` (see
``static/swagger-ui/VERSION``), started by a script of ours rather than an inline one."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from records.api.security import plain_file_name

SWAGGER_UI_VERSION = "5.35.0"
STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/schema/assets"
DOCS_PATH = "/schema/swagger"
OPENAPI_PATH = "/schema/openapi.json"
# The console, when a release has one, is the front page for people; until then the front page
# says where the docs are.
CONSOLE_PATH = "/console/"

docs_assets = create_static_files_router(
    path=ASSETS_PATH, directories=[STATIC_DIR], name="docs_assets", include_in_schema=False,
    # Versioned by the release; a browser may keep them for a day.
    cache_control=None, send_as_attachment=False, guards=[plain_file_name],
)


class OfflineSwaggerRenderPlugin(OpenAPIRenderPlugin):
    """Swagger UI (it renders OpenAPI 3.1) from the package's pinned copy. The page loads the
    OpenAPI document from this origin and has no inline script, so its Content-Security-Policy
    admits scripts from ``'self'`` only; the online validator badge is switched off."""

    def __init__(self, path: str = "/swagger", **kwargs: Any) -> None:
        super().__init__(path=path, favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/swagger-ui/favicon-32x32.png'>",
                         **kwargs)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
{self.favicon}
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{OPENAPI_PATH}"></div>
<script src="{ASSETS_PATH}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/docs.js"></script>
</body>
</html>
""".encode()


def _has_console(request: Request) -> bool:
    return any(route.path.rstrip("/") == CONSOLE_PATH.rstrip("/") for route in request.app.routes)


@get("/", include_in_schema=False, sync_to_thread=False, name="front_page")
def front_page(request: Request) -> Response[Any]:
    """People who open the service's address get the console, or a page pointing to the docs."""
    if _has_console(request):
        return Redirect(CONSOLE_PATH, status_code=303)
    body = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>records</title></head>
<body>
<h1>records</h1>
<p>Document-and-records governance for customer-service files. This address serves the API under
<code>/api/v1</code>; every request but <code>/health</code> needs a token
(<code>records tokens create</code>).</p>
<ul>
<li><a href="{DOCS_PATH}">API documentation</a> (interactive)</li>
<li><a href="{OPENAPI_PATH}">OpenAPI document</a></li>
<li><a href="/health">Health</a></li>
</ul>
</body>
</html>
"""
    return Response(body, media_type="text/html; charset=utf-8")


@get("/schema", include_in_schema=False, sync_to_thread=False, name="docs_index")
def docs_index() -> Redirect:
    return Redirect(DOCS_PATH, status_code=302)
