"""Proof keys for the benchmark: a fresh RSA key pair, a discovery file that publishes it, and signed headers.

The host under test runs with WOPI_PROOF_KEYS=enforce, so every request must carry X-WOPI-Proof,
X-WOPI-ProofOld and X-WOPI-TimeStamp made with the private keys whose public halves the discovery file holds.
A signature stays valid for 20 minutes, so headers are made once per URL and reused until they near that age.
"""

from __future__ import annotations

import base64
import struct
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wopi_core.proof_keys import build_proof_message

TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000
RESIGN_AFTER_SECONDS = 600.0
"""Headers are made again once they are this old, well inside the 20-minute window."""

PUBLICKEYBLOB = 0x06
CUR_BLOB_VERSION = 0x02
CALG_RSA_KEYX = 0x0000A400
RSA1_MAGIC = b"RSA1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _big_endian(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def csp_blob(key: rsa.RSAPublicKey) -> bytes:
    """Encode the public key as a CryptoAPI PUBLICKEYBLOB, the format .NET's ExportCspBlob writes."""
    numbers = key.public_numbers()
    header = struct.pack("<BBHI", PUBLICKEYBLOB, CUR_BLOB_VERSION, 0, CALG_RSA_KEYX)
    rsapubkey = RSA1_MAGIC + struct.pack("<II", key.key_size, numbers.e)
    return header + rsapubkey + numbers.n.to_bytes(key.key_size // 8, "little")


def proof_key_attributes(current: rsa.RSAPublicKey, old: rsa.RSAPublicKey) -> dict[str, str]:
    """Return the attributes of the discovery <proof-key> element for a current and an old key."""
    attributes: dict[str, str] = {}
    for prefix, key in (("", current), ("old", old)):
        numbers = key.public_numbers()
        attributes[f"{prefix}value"] = _b64(csp_blob(key))
        attributes[f"{prefix}modulus"] = _b64(_big_endian(numbers.n))
        attributes[f"{prefix}exponent"] = _b64(_big_endian(numbers.e))
    return attributes


def discovery_xml(current: rsa.RSAPublicKey, old: rsa.RSAPublicKey, client_url: str) -> str:
    """Return a small discovery document: one Word app with view and edit actions, and the proof keys."""
    template = f"{client_url}/we/wordeditorframe.aspx?&lt;ui=UI_LLCC&amp;&gt;&lt;wopisrc=WOPI_SOURCE&amp;&gt;"
    proof = " ".join(f"{name}={quoteattr(value)}" for name, value in proof_key_attributes(current, old).items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<wopi-discovery>\n"
        '  <net-zone name="external-http">\n'
        f'    <app name="Word" favIconUrl="{client_url}/favicon.ico" checkLicense="false">\n'
        f'      <action name="view" ext="docx" urlsrc="{template}"/>\n'
        f'      <action name="edit" ext="docx" requires="locks,update" urlsrc="{template}"/>\n'
        "    </app>\n"
        "  </net-zone>\n"
        f"  <proof-key {proof}/>\n"
        "</wopi-discovery>\n"
    )


def write_discovery(path: Path, current: rsa.RSAPrivateKey, old: rsa.RSAPrivateKey, client_url: str) -> None:
    path.write_text(discovery_xml(current.public_key(), old.public_key(), client_url), encoding="utf-8")


def now_ticks() -> int:
    """Return the current time as .NET ticks: 100-nanosecond intervals since 0001-01-01 UTC."""
    return TICKS_AT_UNIX_EPOCH + time.time_ns() // 100


class ProofSigner:
    """Signer of proof headers for (token, URL) pairs, signing each pair once per RESIGN_AFTER_SECONDS."""

    def __init__(self, current: rsa.RSAPrivateKey, old: rsa.RSAPrivateKey) -> None:
        self._current = current
        self._old = old
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    def headers(self, token: str, url: str) -> dict[str, str]:
        """Return X-WOPI-Proof, X-WOPI-ProofOld and X-WOPI-TimeStamp for a request to url with token."""
        cached = self._cache.get((token, url))
        if cached is not None and time.monotonic() - cached[0] < RESIGN_AFTER_SECONDS:
            return cached[1]
        ticks = now_ticks()
        data = build_proof_message(token, url, ticks)
        made = {
            "X-WOPI-Proof": _b64(self._current.sign(data, padding.PKCS1v15(), hashes.SHA256())),
            "X-WOPI-ProofOld": _b64(self._old.sign(data, padding.PKCS1v15(), hashes.SHA256())),
            "X-WOPI-TimeStamp": str(ticks),
        }
        self._cache[(token, url)] = (time.monotonic(), made)
        return made
