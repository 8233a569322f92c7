"""The console's home page: who is signed in, and the areas their role may use."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template

from records.console.rendering import page


class HomeController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/", name="console-home")
    async def home(self, request: Request) -> Template:
        return page(request, "home.html")
