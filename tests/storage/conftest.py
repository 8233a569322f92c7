"""Session-wide servers for the production adapters (see ``servers``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.storage.servers import S3Server, ServerDidNotStart, nx_27017, real_s3_from_environment, seaweedfs


@pytest.fixture(scope="session")
def nx_mongodb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        yield from nx_27017(tmp_path_factory.mktemp("nx-27017"))
    except ServerDidNotStart as exc:
        pytest.skip(f"cannot run the nx-27017 MongoDB test server: {exc}")


@pytest.fixture(scope="session")
def real_mongodb_url() -> str:
    url = os.environ.get("RECORDS_TEST_MONGODB_URL")
    if not url:
        pytest.skip("set RECORDS_TEST_MONGODB_URL (a replica set) to run these against real MongoDB")
    return url


@pytest.fixture(scope="session")
def seaweedfs_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    try:
        yield from seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    except ServerDidNotStart as exc:
        pytest.skip(f"cannot run the SeaweedFS S3 test server: {exc}")


@pytest.fixture(scope="session")
def real_s3() -> S3Server:
    server = real_s3_from_environment()
    if server is None:
        pytest.skip("set RECORDS_TEST_S3_ENDPOINT (and _ACCESS_KEY, _SECRET_KEY, _SECURE) to run these against real MinIO")
    return server
