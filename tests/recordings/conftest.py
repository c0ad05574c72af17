"""One S3 API (moto's server) for the session; per test, a fresh bucket and AWS
credentials in the environment, where boto3 reads them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openline.config import Settings
from tests.conftest import BACKENDS, TEST_KEY
from tests.support.recordings import S3, moto_server, new_bucket

S3_PREFIX = "rec/"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> S3:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return new_bucket(s3_endpoint)


# Replaces the root fixture (an override cannot extend its parameters): the same
# servers on each database, plus one on SQLite with recordings in S3.
@pytest.fixture(params=[*BACKENDS, "s3"])
def settings(request, tmp_path) -> Settings:
    database_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        api_key=TEST_KEY,
        start_example_agent=False,
    )
    if request.param != "s3":
        return settings
    s3 = request.getfixturevalue("s3")
    return settings.model_copy(
        update={
            "recordings_s3_bucket": s3.bucket,
            "recordings_s3_prefix": S3_PREFIX,
            "recordings_s3_endpoint_url": s3.endpoint_url,
        }
    )
