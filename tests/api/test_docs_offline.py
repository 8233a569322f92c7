"""The API docs work in a closed network: every asset of every page the service serves outside the
API comes from the service itself, and a browser that cannot reach any other host renders them."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from records.api.docs import docs_assets, front_page

DOCS_PAGES = ["/schema", "/schema/swagger"]
CSP_KEYWORDS = {"'self'", "'none'", "'unsafe-inline'", "data:"}


class _References(HTMLParser):
    """Every URL a page makes the browser load or offers as a link."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe") and values.get("src"):
            self.loaded.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.loaded.append(values["href"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        for name, value in attrs:
            if name.startswith("data-") and value and value.startswith(("/", "http:", "https:")):
                self.loaded.append(value)


def _references(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    return parser


def _same_origin(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/")


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_a_docs_page_loads_only_what_the_service_serves(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    references = _references(response.text)
    assert any(url.endswith("swagger-ui-bundle.js") for url in references.loaded)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), "no inline script"
    foreign = [url for url in references.loaded if not _same_origin(url)]
    assert not foreign, f"{page} loads from another host: {foreign}"
    for url in references.loaded:
        asset = client.get(urljoin(page, url))
        assert asset.status_code == 200, url
        if url.endswith(".css"):
            for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", asset.text):
                assert target.startswith("data:") or _same_origin(urljoin(url, target)), f"{url} loads {target}"
    sources = {source for directive in response.headers["content-security-policy"].split(";")
               for source in directive.split()[1:]}
    assert sources <= CSP_KEYWORDS, f"the docs' policy admits other hosts: {sources - CSP_KEYWORDS}"


def test_the_docs_start_swagger_ui_on_this_services_document_without_the_online_validator(client: TestClient) -> None:
    page = _references(client.get("/schema/swagger").text)
    starter = next(url for url in page.loaded if url.endswith("docs.js"))
    script = client.get(starter).text
    assert "validatorUrl: null" in script
    document = next(url for url in page.loaded if url.endswith("openapi.json"))
    assert client.get(document).json()["info"]["title"] == "records"


def test_the_pinned_swagger_ui_comes_with_its_licence(client: TestClient) -> None:
    static = Path(__file__).resolve().parents[2] / "records/api/static/swagger-ui"
    assert "Apache License" in (static / "LICENSE").read_text()
    version = (static / "VERSION").read_text()
    assert version.startswith("swagger-ui-dist 5.") and "integrity sha512-" in version


def test_the_front_page_leads_people_to_the_console(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    assert client.get("/console/").status_code == 200


def test_without_a_console_the_front_page_points_to_the_docs() -> None:
    # A deployment whose app has no console routes (the console is a part, not a precondition).
    with TestClient(Litestar([front_page, docs_assets], openapi_config=None)) as bare:
        response = bare.get("/", follow_redirects=False)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        links = _references(response.text).links
        assert {"/schema/swagger", "/schema/openapi.json", "/health"} <= set(links)
        assert all(_same_origin(link) for link in links), links


def test_assets_outside_the_static_dir_are_not_served(client: TestClient) -> None:
    for path in ("/schema/assets/../docs.py", "/schema/assets/%2e%2e/docs.py", "/schema/assets/swagger-ui/nope.js"):
        assert client.get(path).status_code == 404, path


# --- a browser with no network but this service --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("docs")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECORDS_")}
    server = subprocess.Popen([sys.executable, "-m", "records", "serve", "--data-dir", str(directory / "data"),
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "records serve did not start"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is needed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return found


@pytest.mark.slow
def test_a_browser_without_network_renders_the_docs(served: str, tmp_path: Path) -> None:
    # Every host but this one is unreachable: names do not resolve and any proxy use fails.
    ran = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path}",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9",
         "--virtual-time-budget=15000", "--dump-dom", f"{served}/schema/swagger"],
        check=False, capture_output=True, text=True, timeout=120)
    dom = ran.stdout
    assert 'class="opblock-summary-path"' in dom or "opblock-summary-path" in dom, ran.stderr[-2000:]
    assert 'data-path="/api/v1/records"' in dom
    assert "fileRecord" in dom or "File a record" in dom


@pytest.mark.slow
def test_a_screenshot_of_the_docs_taken_without_network_shows_them_rendered(served: str, tmp_path: Path) -> None:
    """The picture issue 13 asks for: headless Chromium, no network but this service. It goes to
    docs/swagger-offline.png when RECORDS_TEST_SCREENSHOTS=1; the check is that the rendered page
    is not the blank page a CDN-loaded viewer shows offline (many colours, not one)."""
    from PIL import Image

    shot = tmp_path / "swagger.png"
    ran = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9",
         "--virtual-time-budget=15000", "--window-size=1280,1600", "--hide-scrollbars", f"--screenshot={shot}",
         f"{served}/schema/swagger"],
        check=False, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), ran.stderr[-2000:]
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50, "the docs page rendered blank"
    if os.environ.get("RECORDS_TEST_SCREENSHOTS") == "1":
        shutil.copyfile(shot, Path(__file__).resolve().parents[2] / "docs" / "swagger-offline.png")
