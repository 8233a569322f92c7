"""The bagit library's INFO lines, which print attachment file names, are kept out of the log."""

from __future__ import annotations

import logging

import bagit
import pytest

from records.api.app import create_app

# --- the bagit library's INFO lines --------------------------------------------------------------


def test_bagit_does_not_log_file_names(settings, tmp_path, caplog: pytest.LogCaptureFixture):
    create_app(settings)  # the service quiets the library as it is built
    caplog.set_level(logging.DEBUG)
    package = tmp_path / "package"
    package.mkdir()
    (package / "欧阳娜娜-身份证.pdf").write_bytes(b"scan")
    bagit.make_bag(str(package), checksums=["sha256"])
    assert (package / "bagit.txt").exists()
    assert "欧阳娜娜" not in caplog.text and not [r for r in caplog.records if r.name == "bagit" and r.levelno < logging.WARNING]
