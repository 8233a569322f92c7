"""The shipped reverse proxy terminates TLS and sends HSTS."""

from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


# --- the shipped reverse proxy -------------------------------------------------------------------


def test_the_caddyfile_terminates_tls_and_sends_hsts():
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    sites = re.findall(r"^(\S[^{\n]*)\{", caddyfile, re.MULTILINE)
    assert sites and not any(s.strip().startswith((":80", "http://")) for s in sites if not s.strip().startswith("{")), sites
    assert re.search(r'Strict-Transport-Security\s+"max-age=\d{8,}', caddyfile)
    compose = (DEPLOY / "compose.yaml").read_text()
    assert '"443:443"' in compose
