"""Target names of PutRelativeFile and CreateChild*, UTF-7 names, and the Collabora timestamp check."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from wopi_core.dialects import changed_outside, parse_wopi_time, wopi_time
from wopi_core.errors import BadRequest, NameTaken, UnsupportedOperation
from wopi_core.models import FileInfo
from wopi_core.names import decode_utf7, encode_utf7, make_valid_name
from wopi_core.relative import ExpectedSizeReader, first_free_name, numbered_variants, parse_target

MODIFIED = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
INFO = FileInfo("f" * 32, "a.docx", "owner", 1, "", "1", MODIFIED, "owner")


def test_parse_target_suggested_extension_keeps_source_stem() -> None:
    target = parse_target(".pdf", None, overwrite=False, source_name="report.final.docx")
    assert target.name == "report.final.pdf"
    assert not target.exact


def test_parse_target_decodes_utf7_relative_name() -> None:
    target = parse_target(None, "madeup+AF8-name.wopitestx", overwrite=True)
    assert target.name == "madeup_name.wopitestx"
    assert target.exact and target.overwrite


def test_parse_target_suggested_name_made_valid() -> None:
    assert parse_target("a:b?.docx", None, overwrite=False).name == "a_b_.docx"


@pytest.mark.parametrize("error", [BadRequest, UnsupportedOperation])
def test_parse_target_both_headers_raises_given_error(error: type[BadRequest]) -> None:
    with pytest.raises(error):
        parse_target(".docx", "a.docx", overwrite=False, both_error=error)


def test_utf7_round_trips_non_latin1_name() -> None:
    name = "東京 🚀 Ünïcode.docx"
    encoded = encode_utf7(name)
    assert encoded.isascii()
    assert decode_utf7(encoded, "X-WOPI-RelativeTarget") == name


def test_decode_utf7_rejects_invalid_sequence() -> None:
    with pytest.raises(BadRequest):
        decode_utf7("+ÿÿ-", "X-WOPI-RelativeTarget")


def test_make_valid_name_caps_length_and_keeps_extension() -> None:
    name = make_valid_name("x" * 600 + ".docx")
    assert len(name) == 255
    assert name.endswith(".docx")


def test_numbered_variants_keep_extension() -> None:
    assert list(numbered_variants("report.docx"))[:3] == ["report.docx", "report (2).docx", "report (3).docx"]


def test_first_free_name_skips_taken_names() -> None:
    taken = {"report.docx", "report (2).docx"}
    assert first_free_name("report.docx", taken.__contains__) == "report (3).docx"


def test_first_free_name_raises_when_everything_taken() -> None:
    with pytest.raises(NameTaken):
        first_free_name("a.docx", lambda _name: True)


def test_expected_size_reader_rejects_short_body() -> None:
    reader = ExpectedSizeReader(io.BytesIO(b"abc"), 5)
    assert reader.read(10) == b"abc"
    with pytest.raises(BadRequest):
        reader.read(10)


def test_expected_size_reader_rejects_long_body() -> None:
    with pytest.raises(BadRequest):
        ExpectedSizeReader(io.BytesIO(b"abcdef"), 5).read(10)


def test_expected_size_reader_passes_exact_body() -> None:
    reader = ExpectedSizeReader(io.BytesIO(b"abcde"), 5)
    assert reader.read(10) + reader.read(10) == b"abcde"


def test_changed_outside_accepts_own_last_modified_time() -> None:
    assert not changed_outside({"X-COOL-WOPI-Timestamp": wopi_time(MODIFIED)}, INFO)


def test_changed_outside_accepts_same_instant_in_other_format() -> None:
    assert not changed_outside({"X-COOL-WOPI-Timestamp": "2026-03-01T12:30:45.123456+00:00"}, INFO)


def test_changed_outside_refuses_other_time_and_garbage() -> None:
    assert changed_outside({"X-COOL-WOPI-Timestamp": "2026-03-01T12:30:44.0000000Z"}, INFO)
    assert changed_outside({"X-LOOL-WOPI-Timestamp": "yesterday"}, INFO)


def test_changed_outside_without_timestamp_is_false() -> None:
    assert not changed_outside({}, INFO)


def test_parse_wopi_time_reads_seven_fraction_digits() -> None:
    assert parse_wopi_time("2026-03-01T12:30:45.1234567Z") == MODIFIED
