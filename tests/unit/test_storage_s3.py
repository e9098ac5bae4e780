"""Pure helpers of the S3 backend: metadata encoding, endpoint parsing, part sizes and error translation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError

from wopi_core.errors import ConfigError, FileNotFound, StorageUnavailable, WopiError
from wopi_core.storage.s3 import (
    CONNECT_TIMEOUT,
    MAX_PART_COUNT,
    PART_SIZE,
    READ_TIMEOUT,
    build_http_client,
    parse_endpoint,
    part_size_for,
    translate_errors,
)
from wopi_core.storage.s3_metadata import MetadataError, VersionRecord, decode_metadata, encode_metadata

RECORD = VersionRecord(
    name="Präsentation Entwurf – 東京 🚀.pptx",
    owner_id="Jürgen 山田",
    sha256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    size=1234,
    modified_by="Zoë ✏️",
    modified_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
)


def as_headers(metadata: dict[str, str]) -> dict[str, str]:
    """Return metadata the way a HEAD response carries it, with canonical header capitalisation."""
    return {"X-Amz-Meta-" + key.title(): value for key, value in metadata.items()} | {"Content-Length": "1234"}


def s3_error(code: str) -> S3Error:
    return S3Error(urllib3.HTTPResponse(), code, "message", "/bucket/key", "request-id", "host-id")


def test_encode_metadata_values_are_ascii() -> None:
    metadata = encode_metadata(RECORD)

    for value in metadata.values():
        assert value.isascii()
    assert " " not in metadata["name"]


def test_decode_metadata_round_trip() -> None:
    assert decode_metadata(as_headers(encode_metadata(RECORD))) == RECORD


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("100% done %41.docx", id="percent-signs"),
        pytest.param(" leading and trailing ", id="spaces"),
        pytest.param("a+b=c&d.docx", id="reserved-characters"),
        pytest.param("東" * 255, id="max-length-cjk"),
    ],
)
def test_decode_metadata_round_trip_names(name: str) -> None:
    record = replace(RECORD, name=name)

    assert decode_metadata(as_headers(encode_metadata(record))).name == name


def test_decode_metadata_lower_case_headers() -> None:
    headers = {"x-amz-meta-" + key: value for key, value in encode_metadata(RECORD).items()}

    assert decode_metadata(headers) == RECORD


def test_decode_metadata_empty_owner_and_modifier() -> None:
    record = replace(RECORD, owner_id="", modified_by="")
    headers = {key: value for key, value in as_headers(encode_metadata(record)).items() if value}

    decoded = decode_metadata(headers)

    assert decoded.owner_id == ""
    assert decoded.modified_by == ""


@pytest.mark.parametrize("missing", ["name", "sha256", "size", "modified-at"])
def test_decode_metadata_missing_field_raises(missing: str) -> None:
    metadata = encode_metadata(RECORD)
    del metadata[missing]

    with pytest.raises(MetadataError, match=missing):
        decode_metadata(as_headers(metadata))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("size", "twelve", id="size-not-a-number"),
        pytest.param("modified-at", "yesterday", id="time-not-iso"),
        pytest.param("name", "%FF%FE", id="name-not-utf8"),
    ],
)
def test_decode_metadata_invalid_value_raises(field: str, value: str) -> None:
    metadata = encode_metadata(RECORD) | {field: value}

    with pytest.raises(MetadataError):
        decode_metadata(as_headers(metadata))


@pytest.mark.parametrize(
    ("url", "endpoint", "secure"),
    [
        pytest.param("http://127.0.0.1:9000", "127.0.0.1:9000", False, id="http-with-port"),
        pytest.param("https://minio.internal", "minio.internal", True, id="https-default-port"),
        pytest.param("https://minio.internal:9443/", "minio.internal:9443", True, id="trailing-slash"),
        pytest.param("http://[::1]:9000", "[::1]:9000", False, id="ipv6"),
    ],
)
def test_parse_endpoint(url: str, endpoint: str, secure: bool) -> None:
    assert parse_endpoint(url) == (endpoint, secure)


@pytest.mark.parametrize("url", ["http://minio:9000/bucket", "ftp://minio:21", "minio:9000", ""])
def test_parse_endpoint_invalid_raises_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="WOPI_S3_ENDPOINT"):
        parse_endpoint(url)


@pytest.mark.parametrize("length", [0, 1, PART_SIZE, 12 * 1024 * 1024, 1024**3])
def test_part_size_for_common_lengths_is_default(length: int) -> None:
    assert part_size_for(length) == PART_SIZE


@pytest.mark.parametrize("length", [PART_SIZE * MAX_PART_COUNT + 1, 200 * 1024**3, 5 * 1024**4])
def test_part_size_for_huge_length(length: int) -> None:
    size = part_size_for(length)

    assert size % (1024 * 1024) == 0
    assert -(-length // size) <= MAX_PART_COUNT


def test_build_http_client_sets_timeouts() -> None:
    timeout = build_http_client().connection_pool_kw["timeout"]

    assert timeout.connect_timeout == CONNECT_TIMEOUT
    assert timeout.read_timeout == READ_TIMEOUT


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchVersion"])
def test_translate_errors_missing_object_raises_not_found(code: str) -> None:
    error = s3_error(code)

    with pytest.raises(FileNotFound) as caught, translate_errors("file 'x'"):
        raise error

    assert caught.value.__cause__ is error


@pytest.mark.parametrize("code", ["InvalidArgument", "BadRequest", "MethodNotAllowed"])
def test_translate_errors_bad_version_raises_not_found(code: str) -> None:
    with pytest.raises(FileNotFound), translate_errors("file 'x' version 'y'", version_given=True):
        raise s3_error(code)


@pytest.mark.parametrize("code", ["InvalidArgument", "AccessDenied", "NoSuchBucket"])
def test_translate_errors_other_codes_raise_wopi_error(code: str) -> None:
    with pytest.raises(WopiError, match=code) as caught, translate_errors("file 'x'"):
        raise s3_error(code)

    assert type(caught.value) is WopiError


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            urllib3.exceptions.MaxRetryError(urllib3.HTTPConnectionPool("127.0.0.1"), "/files/x"), id="max-retries"
        ),
        pytest.param(urllib3.exceptions.ProtocolError("connection broken"), id="protocol"),
        pytest.param(ServerError("server failed", 503), id="server-error"),
        pytest.param(InvalidResponseError(502, "text/html", "bad gateway"), id="non-xml-response"),
    ],
)
def test_translate_errors_connection_errors_raise_storage_unavailable(error: Exception) -> None:
    with pytest.raises(StorageUnavailable) as caught, translate_errors("file 'x'"):
        raise error

    assert caught.value.__cause__ is error


def test_translate_errors_leaves_other_exceptions() -> None:
    with pytest.raises(KeyError), translate_errors("file 'x'"):
        raise KeyError("unrelated")
