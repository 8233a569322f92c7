"""Settings: precedence, validation, and README listing every one of them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from records.errors import InvalidConfiguration
from records.settings import RecordsSettings, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_setting_with_its_default():
    text = README.read_text()
    for name, field in RecordsSettings.model_fields.items():
        row = re.search(rf"^\| `RECORDS_{name.upper()}` \| `([^`]*)` \|", text, re.MULTILINE)
        assert row, f"README's settings table lacks RECORDS_{name.upper()}"
        assert row.group(1) == str(field.default), f"README's default for RECORDS_{name.upper()} is stale"


def test_readme_quick_start_has_exactly_two_commands():
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert [b.count("\n") for b in blocks] == [1, 1]
    assert "records serve" in blocks[0] and "pytest" in blocks[1]
    # .ci/run runs both as README writes them: it reads them from this section.
    ci = (README.parent / ".ci" / "run").read_text()
    reader = ci[ci.index("quick_start_command() {"):]
    reader = reader[:reader.index("\n}\n") + 3]
    for n, block in enumerate(blocks, start=1):
        read = subprocess.run(["bash", "-c", f"{reader}\nquick_start_command {n}"], cwd=README.parent,
                              capture_output=True, text=True, check=True).stdout
        assert read == block, f".ci/run reads Quick start command {n} as {read!r}"


def test_precedence_flags_over_environment_over_file(tmp_path, monkeypatch):
    config = tmp_path / "records.toml"
    config.write_text('port = 9001\npage_size_max = 100\nlog_level = "debug"\n')
    monkeypatch.setenv("RECORDS_CONFIG", str(config))
    monkeypatch.setenv("RECORDS_PORT", "9002")
    settings = load_settings(port=9003)
    assert settings.port == 9003
    assert load_settings().port == 9002
    assert load_settings().page_size_max == 100
    assert load_settings().log_level == "debug"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RECORDS_PORT", "0"), ("RECORDS_PORT", "http"), ("RECORDS_LOG_LEVEL", "loud"), ("RECORDS_PAGE_SIZE_MAX", "-1"),
     ("RECORDS_MAX_REQUEST_BYTES", "10")],
)
def test_invalid_values_are_one_typed_error(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidConfiguration) as caught:
        load_settings()
    assert variable.removeprefix("RECORDS_").lower() in str(caught.value)


def test_default_page_size_may_not_exceed_the_cap(monkeypatch):
    monkeypatch.setenv("RECORDS_PAGE_SIZE_DEFAULT", "500")
    with pytest.raises(InvalidConfiguration):
        load_settings()


def test_unknown_store_is_refused(tmp_path):
    from records.storage import open_storage

    with pytest.raises(InvalidConfiguration):
        open_storage(load_settings(data_dir=tmp_path, store="oracle"))
    with pytest.raises(InvalidConfiguration):
        open_storage(load_settings(data_dir=tmp_path, blobs="ftp"))
