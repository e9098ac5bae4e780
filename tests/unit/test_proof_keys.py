"""Unit tests for wopi_core.proof_keys: signed-message layout, the accept rule and timestamp checks."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wopi_core.discovery import ProofKey, parse_discovery
from wopi_core.errors import ProofKeyInvalid
from wopi_core.proof_keys import (
    DOTNET_EPOCH_TICKS,
    ProofOutcome,
    ProofResult,
    build_proof_message,
    check_proof,
    ticks_to_unix,
    unix_to_ticks,
    verify_proof,
)

NOW = 1_700_000_000.0
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
PUBLIC_URL = "https://wopi.example.test/wopi/files/f-1?access_token=" + TOKEN
INTERNAL_URL = "http://10.0.0.5:8000/wopi/files/f-1?access_token=" + TOKEN


@dataclass(frozen=True)
class KeyPairs:
    current: rsa.RSAPrivateKey
    old: rsa.RSAPrivateKey
    discovery_keys: ProofKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _csp_blob(key: rsa.RSAPublicKey) -> bytes:
    """Encode a public key as a CryptoAPI PUBLICKEYBLOB, the form .NET's ExportCspBlob writes."""
    numbers = key.public_numbers()
    size = key.key_size // 8
    header = (
        bytes([0x06, 0x02, 0, 0]) + struct.pack("<I", 0xA400) + b"RSA1" + struct.pack("<II", key.key_size, numbers.e)
    )
    return header + numbers.n.to_bytes(size, "little")


def _key_attributes(prefix: str, key: rsa.RSAPublicKey) -> str:
    numbers = key.public_numbers()
    modulus = numbers.n.to_bytes(key.key_size // 8, "big")
    exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return (
        f'{prefix}value="{_b64(_csp_blob(key))}" {prefix}modulus="{_b64(modulus)}" {prefix}exponent="{_b64(exponent)}"'
    )


def _discovery_xml(current: rsa.RSAPublicKey, old: rsa.RSAPublicKey | None) -> bytes:
    old_attributes = _key_attributes("old", old) if old else 'oldvalue="" oldmodulus="" oldexponent=""'
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<wopi-discovery>\n'
        '  <net-zone name="external-https">\n'
        '    <app name="Word" favIconUrl="https://client.example.test/word.ico">\n'
        '      <action name="edit" ext="docx" requires="locks,update" '
        'urlsrc="https://client.example.test/we/edit.aspx?&lt;ui=UI_LLCC&amp;&gt;&lt;wopisrc=WOPI_SOURCE&amp;&gt;"/>\n'
        "    </app>\n  </net-zone>\n"
        f"  <proof-key {_key_attributes('', current)} {old_attributes}/>\n"
        "</wopi-discovery>\n"
    ).encode()


@pytest.fixture(scope="module")
def keys() -> KeyPairs:
    current = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    discovery = parse_discovery(_discovery_xml(current.public_key(), old.public_key()))
    return KeyPairs(current=current, old=old, discovery_keys=discovery.proof_key)


def _sign(key: rsa.RSAPrivateKey, url: str = PUBLIC_URL, timestamp: int | None = None, token: str = TOKEN) -> str:
    ticks = unix_to_ticks(NOW) if timestamp is None else timestamp
    message = build_proof_message(token, url, ticks)
    return _b64(key.sign(message, padding.PKCS1v15(), hashes.SHA256()))


def _verify(
    keys: ProofKey,
    proof: str | None,
    proof_old: str | None,
    timestamp: str | None = None,
    url: str = PUBLIC_URL,
) -> ProofOutcome:
    stamp = str(unix_to_ticks(NOW)) if timestamp is None else timestamp
    return verify_proof(keys, TOKEN, url, proof, proof_old, stamp, now=NOW).outcome


def test_build_proof_message_layout() -> None:
    message = build_proof_message("tok", "https://h/a?b=c", 0x0102030405060708)
    assert message == (
        b"\x00\x00\x00\x03tok\x00\x00\x00\x0fHTTPS://H/A?B=C\x00\x00\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08"
    )


def test_build_proof_message_counts_utf8_bytes() -> None:
    message = build_proof_message("é", "u", 0)
    assert message[:6] == b"\x00\x00\x00\x02\xc3\xa9"


def test_ticks_to_unix_epoch_is_zero() -> None:
    assert ticks_to_unix(DOTNET_EPOCH_TICKS) == 0.0


def test_unix_to_ticks_round_trip() -> None:
    assert ticks_to_unix(unix_to_ticks(NOW)) == NOW


def test_unix_to_ticks_known_date() -> None:
    # 2015-01-01T00:00:00Z is Unix 1420070400.
    assert unix_to_ticks(1_420_070_400) == 635_556_672_000_000_000


def test_discovery_built_keys_match_generated_keys(keys: KeyPairs) -> None:
    assert keys.discovery_keys.current is not None
    assert keys.discovery_keys.old is not None
    assert (keys.discovery_keys.current.public_numbers(), keys.discovery_keys.old.public_numbers()) == (
        keys.current.public_key().public_numbers(),
        keys.old.public_key().public_numbers(),
    )


def test_verify_proof_accepts_current_key(keys: KeyPairs) -> None:
    outcome = _verify(keys.discovery_keys, _sign(keys.current), _sign(keys.old))
    assert outcome is ProofOutcome.CURRENT_KEY


def test_verify_proof_accepts_current_key_without_proof_old(keys: KeyPairs) -> None:
    assert _verify(keys.discovery_keys, _sign(keys.current), None) is ProofOutcome.CURRENT_KEY


def test_verify_proof_accepts_proof_old_current_key(keys: KeyPairs) -> None:
    invalid = _b64(b"INVALID")
    outcome = _verify(keys.discovery_keys, invalid, _sign(keys.current))
    assert outcome is ProofOutcome.PROOF_OLD_WITH_CURRENT_KEY


def test_verify_proof_accepts_proof_signed_with_old_key(keys: KeyPairs) -> None:
    outcome = _verify(keys.discovery_keys, _sign(keys.old), _b64(b"INVALID"))
    assert outcome is ProofOutcome.PROOF_WITH_OLD_KEY


def test_verify_proof_rejects_proof_old_old_key(keys: KeyPairs) -> None:
    outcome = _verify(keys.discovery_keys, _b64(b"INVALID"), _sign(keys.old))
    assert outcome is ProofOutcome.SIGNATURE_MISMATCH


def test_verify_proof_rejects_both_invalid(keys: KeyPairs) -> None:
    outcome = _verify(keys.discovery_keys, _b64(b"INVALID"), _b64(b"INVALID"))
    assert outcome is ProofOutcome.SIGNATURE_MISMATCH


def test_verify_proof_rejects_timestamp_21_minutes_old(keys: KeyPairs) -> None:
    stamp = unix_to_ticks(NOW - 21 * 60)
    outcome = _verify(keys.discovery_keys, _sign(keys.current, timestamp=stamp), None, timestamp=str(stamp))
    assert outcome is ProofOutcome.TIMESTAMP_EXPIRED


def test_verify_proof_accepts_timestamp_19_minutes_old(keys: KeyPairs) -> None:
    stamp = unix_to_ticks(NOW - 19 * 60)
    outcome = _verify(keys.discovery_keys, _sign(keys.current, timestamp=stamp), None, timestamp=str(stamp))
    assert outcome is ProofOutcome.CURRENT_KEY


def test_verify_proof_rejects_timestamp_far_in_future(keys: KeyPairs) -> None:
    stamp = unix_to_ticks(NOW + 10 * 60)
    outcome = _verify(keys.discovery_keys, _sign(keys.current, timestamp=stamp), None, timestamp=str(stamp))
    assert outcome is ProofOutcome.TIMESTAMP_IN_FUTURE


def test_verify_proof_accepts_small_clock_skew(keys: KeyPairs) -> None:
    stamp = unix_to_ticks(NOW + 60)
    outcome = _verify(keys.discovery_keys, _sign(keys.current, timestamp=stamp), None, timestamp=str(stamp))
    assert outcome is ProofOutcome.CURRENT_KEY


def test_verify_proof_rejects_signature_over_other_timestamp(keys: KeyPairs) -> None:
    signed = _sign(keys.current, timestamp=unix_to_ticks(NOW) - 1)
    assert _verify(keys.discovery_keys, signed, None) is ProofOutcome.SIGNATURE_MISMATCH


def test_verify_proof_rejects_signature_over_internal_url(keys: KeyPairs) -> None:
    signed = _sign(keys.current, url=INTERNAL_URL)
    assert _verify(keys.discovery_keys, signed, None, url=PUBLIC_URL) is ProofOutcome.SIGNATURE_MISMATCH


def test_verify_proof_accepts_signature_over_public_url(keys: KeyPairs) -> None:
    signed = _sign(keys.current, url=PUBLIC_URL)
    assert _verify(keys.discovery_keys, signed, None, url=PUBLIC_URL) is ProofOutcome.CURRENT_KEY


def test_verify_proof_ignores_url_case(keys: KeyPairs) -> None:
    signed = _sign(keys.current, url=PUBLIC_URL.lower())
    assert _verify(keys.discovery_keys, signed, None, url=PUBLIC_URL) is ProofOutcome.CURRENT_KEY


def test_verify_proof_rejects_signature_over_other_token(keys: KeyPairs) -> None:
    signed = _sign(keys.current, token=TOKEN + "x")
    assert _verify(keys.discovery_keys, signed, None) is ProofOutcome.SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param("not-a-number", id="text"),
        pytest.param("-638000000000000000", id="negative"),
        pytest.param("6.38e17", id="float"),
        pytest.param("63800000000000000000000", id="over-64-bit"),
        pytest.param("６３８", id="non-ascii-digits"),
    ],
)
def test_verify_proof_rejects_malformed_timestamp(keys: KeyPairs, timestamp: str) -> None:
    outcome = _verify(keys.discovery_keys, _sign(keys.current), None, timestamp=timestamp)
    assert outcome is ProofOutcome.MALFORMED_TIMESTAMP


@pytest.mark.parametrize(
    ("proof", "timestamp"),
    [
        pytest.param(None, str(unix_to_ticks(NOW)), id="no-proof"),
        pytest.param("", str(unix_to_ticks(NOW)), id="empty-proof"),
        pytest.param("c2ln", "", id="empty-timestamp"),
    ],
)
def test_verify_proof_rejects_missing_headers(keys: KeyPairs, proof: str | None, timestamp: str) -> None:
    outcome = verify_proof(keys.discovery_keys, TOKEN, PUBLIC_URL, proof, None, timestamp, now=NOW).outcome
    assert outcome is ProofOutcome.MISSING_HEADER


def test_verify_proof_rejects_missing_timestamp(keys: KeyPairs) -> None:
    outcome = verify_proof(keys.discovery_keys, TOKEN, PUBLIC_URL, _sign(keys.current), None, None, now=NOW).outcome
    assert outcome is ProofOutcome.MISSING_HEADER


def test_verify_proof_rejects_malformed_proof_base64(keys: KeyPairs) -> None:
    assert _verify(keys.discovery_keys, "%%%not-base64", None) is ProofOutcome.MALFORMED_PROOF


def test_verify_proof_rejects_malformed_proof_old_base64(keys: KeyPairs) -> None:
    assert _verify(keys.discovery_keys, _sign(keys.current), "%%%") is ProofOutcome.MALFORMED_PROOF


def test_verify_proof_rejects_without_keys(keys: KeyPairs) -> None:
    assert _verify(ProofKey(), _sign(keys.current), None) is ProofOutcome.NO_KEYS


def test_verify_proof_no_old_key_rejects_old(keys: KeyPairs) -> None:
    discovery = parse_discovery(_discovery_xml(keys.current.public_key(), None))
    outcome = _verify(discovery.proof_key, _sign(keys.old), None)
    assert outcome is ProofOutcome.SIGNATURE_MISMATCH


def test_verify_proof_no_old_key_accepts_current(keys: KeyPairs) -> None:
    discovery = parse_discovery(_discovery_xml(keys.current.public_key(), None))
    assert _verify(discovery.proof_key, _sign(keys.current), "") is ProofOutcome.CURRENT_KEY


@pytest.mark.parametrize(
    ("outcome", "valid", "rotation"),
    [
        pytest.param(ProofOutcome.CURRENT_KEY, True, False, id="current"),
        pytest.param(ProofOutcome.PROOF_OLD_WITH_CURRENT_KEY, True, True, id="proof-old-current-key"),
        pytest.param(ProofOutcome.PROOF_WITH_OLD_KEY, True, True, id="proof-old-key"),
        pytest.param(ProofOutcome.SIGNATURE_MISMATCH, False, False, id="mismatch"),
        pytest.param(ProofOutcome.TIMESTAMP_EXPIRED, False, False, id="expired"),
    ],
)
def test_proof_result_flags(outcome: ProofOutcome, valid: bool, rotation: bool) -> None:
    result = ProofResult(outcome)
    assert (result.valid, result.key_rotation) == (valid, rotation)


def test_check_proof_returns_result_when_valid(keys: KeyPairs) -> None:
    stamp = str(unix_to_ticks(NOW))
    result = check_proof(keys.discovery_keys, TOKEN, PUBLIC_URL, _sign(keys.old), None, stamp, now=NOW)
    assert result.key_rotation


def test_check_proof_raises_proof_key_invalid(keys: KeyPairs) -> None:
    stamp = str(unix_to_ticks(NOW))
    with pytest.raises(ProofKeyInvalid):
        check_proof(keys.discovery_keys, TOKEN, PUBLIC_URL, _b64(b"INVALID"), _sign(keys.old), stamp, now=NOW)


def test_check_proof_hides_token_and_proof(keys: KeyPairs, caplog: pytest.LogCaptureFixture) -> None:
    stamp = str(unix_to_ticks(NOW))
    proof = _sign(keys.current, url=INTERNAL_URL)
    with caplog.at_level("DEBUG"), pytest.raises(ProofKeyInvalid) as raised:
        check_proof(keys.discovery_keys, TOKEN, PUBLIC_URL, proof, None, stamp, now=NOW)
    exposed = str(raised.value) + caplog.text
    assert TOKEN not in exposed
    assert proof not in exposed
