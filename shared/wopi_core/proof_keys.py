"""WOPI proof-key verification: check that a request was signed by the WOPI client named in discovery.

The client signs the access token, the upper-cased request URL and the X-WOPI-TimeStamp value with RSA
PKCS#1 v1.5 over SHA-256. `verify_proof` applies the accept rule and returns a `ProofResult`, and `check_proof`
raises `ProofKeyInvalid` for a rejected request. Neither function logs tokens or signatures.
"""

from __future__ import annotations

import binascii
import enum
import logging
import struct
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wopi_core.discovery import ProofKey
from wopi_core.errors import ProofKeyInvalid

logger = logging.getLogger(__name__)

DOTNET_EPOCH_TICKS = 621_355_968_000_000_000
"""`DateTime(1970, 1, 1).Ticks`: .NET ticks count 100 ns intervals from 0001-01-01T00:00:00 UTC."""
TICKS_PER_SECOND = 10_000_000

MAX_TIMESTAMP_AGE_SECONDS = 20 * 60
# The protocol only bounds the age. A timestamp far in the future would keep a captured request replayable
# for longer than 20 minutes, so only a few minutes of clock skew between client and host are tolerated.
MAX_TIMESTAMP_SKEW_SECONDS = 5 * 60

_MAX_TICKS = 2**63 - 1
_PADDING = padding.PKCS1v15()
_HASH = hashes.SHA256()


def ticks_to_unix(ticks: int) -> float:
    """Convert .NET ticks to Unix seconds."""
    return (ticks - DOTNET_EPOCH_TICKS) / TICKS_PER_SECOND


def unix_to_ticks(seconds: float) -> int:
    """Convert Unix seconds to .NET ticks, rounded to the nearest tick."""
    return DOTNET_EPOCH_TICKS + int(round(seconds * TICKS_PER_SECOND))


def build_proof_message(access_token: str, url: str, timestamp: int) -> bytes:
    """Return the bytes a WOPI client signs for a request.

    The message is the token, the upper-cased URL and the timestamp as a signed 64-bit integer, each
    preceded by its length as a 4-byte big-endian integer. All integers are big-endian.
    """
    token_bytes = access_token.encode("utf-8")
    url_bytes = url.upper().encode("utf-8")
    return b"".join(
        (
            struct.pack(">I", len(token_bytes)),
            token_bytes,
            struct.pack(">I", len(url_bytes)),
            url_bytes,
            struct.pack(">I", 8),
            struct.pack(">q", timestamp),
        )
    )


class ProofOutcome(enum.Enum):
    """The result of one proof check: which rule accepted the request, or why it was rejected."""

    CURRENT_KEY = "X-WOPI-Proof verified with the current key"
    PROOF_OLD_WITH_CURRENT_KEY = "X-WOPI-ProofOld verified with the current key"
    PROOF_WITH_OLD_KEY = "X-WOPI-Proof verified with the old key"
    NO_KEYS = "discovery has no proof key"
    MISSING_HEADER = "X-WOPI-Proof or X-WOPI-TimeStamp is missing"
    MALFORMED_TIMESTAMP = "X-WOPI-TimeStamp is not a decimal .NET tick count"
    TIMESTAMP_EXPIRED = "X-WOPI-TimeStamp is more than 20 minutes old"
    TIMESTAMP_IN_FUTURE = "X-WOPI-TimeStamp is more than 5 minutes in the future"
    MALFORMED_PROOF = "a proof header is not valid Base64"
    SIGNATURE_MISMATCH = "no accepted combination of proof header and key verified"


_ACCEPTED = frozenset(
    {ProofOutcome.CURRENT_KEY, ProofOutcome.PROOF_OLD_WITH_CURRENT_KEY, ProofOutcome.PROOF_WITH_OLD_KEY}
)


@dataclass(frozen=True, slots=True)
class ProofResult:
    """Outcome of `verify_proof`."""

    outcome: ProofOutcome

    @property
    def valid(self) -> bool:
        """Whether the request is accepted as signed by the WOPI client."""
        return self.outcome in _ACCEPTED

    @property
    def key_rotation(self) -> bool:
        """Whether it was accepted only through the old key or the X-WOPI-ProofOld header.

        Either means the client rotated its keys, so discovery is due for a refresh.
        """
        return self.valid and self.outcome is not ProofOutcome.CURRENT_KEY

    @property
    def reason(self) -> str:
        """A message that names the rule applied; it contains no token or signature."""
        return self.outcome.value


def verify_proof(
    keys: ProofKey,
    access_token: str,
    url: str,
    proof: str | None,
    proof_old: str | None,
    timestamp_header: str | None,
    now: float | None = None,
) -> ProofResult:
    """Verify the X-WOPI-Proof, X-WOPI-ProofOld and X-WOPI-TimeStamp headers of one request.

    `url` is the full URL the client called (public scheme and host, raw path, raw query string), and
    `now` is Unix seconds (default: the current time). The request is accepted when X-WOPI-Proof verifies
    with the current key, X-WOPI-ProofOld with the current key, or X-WOPI-Proof with the old key, and its
    timestamp is at most 20 minutes old. X-WOPI-ProofOld verified with the old key alone is rejected.
    An absent or empty X-WOPI-ProofOld is allowed.
    """
    if keys.current is None:
        return ProofResult(ProofOutcome.NO_KEYS)
    if not proof or not timestamp_header:
        return ProofResult(ProofOutcome.MISSING_HEADER)
    timestamp = _parse_ticks(timestamp_header)
    if timestamp is None:
        return ProofResult(ProofOutcome.MALFORMED_TIMESTAMP)
    age = (time.time() if now is None else now) - ticks_to_unix(timestamp)
    if age > MAX_TIMESTAMP_AGE_SECONDS:
        return ProofResult(ProofOutcome.TIMESTAMP_EXPIRED)
    if age < -MAX_TIMESTAMP_SKEW_SECONDS:
        return ProofResult(ProofOutcome.TIMESTAMP_IN_FUTURE)
    signature = _decode_signature(proof)
    signature_old = _decode_signature(proof_old) if proof_old else b""
    if signature is None or signature_old is None:
        return ProofResult(ProofOutcome.MALFORMED_PROOF)

    message = build_proof_message(access_token, url, timestamp)
    if _verifies(keys.current, signature, message):
        return ProofResult(ProofOutcome.CURRENT_KEY)
    if signature_old and _verifies(keys.current, signature_old, message):
        return ProofResult(ProofOutcome.PROOF_OLD_WITH_CURRENT_KEY)
    if keys.old is not None and _verifies(keys.old, signature, message):
        return ProofResult(ProofOutcome.PROOF_WITH_OLD_KEY)
    return ProofResult(ProofOutcome.SIGNATURE_MISMATCH)


def check_proof(
    keys: ProofKey,
    access_token: str,
    url: str,
    proof: str | None,
    proof_old: str | None,
    timestamp_header: str | None,
    now: float | None = None,
) -> ProofResult:
    """Verify a request's proof headers like `verify_proof`; raise ProofKeyInvalid (500) when it is rejected."""
    result = verify_proof(keys, access_token, url, proof, proof_old, timestamp_header, now)
    if not result.valid:
        logger.warning("proof key check failed: %s", result.reason)
        raise ProofKeyInvalid(result.reason)
    if result.key_rotation:
        logger.info("proof key check passed through key rotation: %s", result.reason)
    return result


def _parse_ticks(header: str) -> int | None:
    text = header.strip()
    # int() would also accept "+5", "1_000" and non-ASCII digits, none of which a client sends.
    if not text.isascii() or not text.isdigit():
        return None
    ticks = int(text)
    return ticks if ticks <= _MAX_TICKS else None


def _decode_signature(header: str) -> bytes | None:
    try:
        # Strict mode rejects what validate=True rejects (characters outside the alphabet, bad
        # padding) without the regular expression check that b64decode runs first.
        return binascii.a2b_base64(header.strip(), strict_mode=True) or None
    except (binascii.Error, ValueError):
        return None


def _verifies(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, _PADDING, _HASH)
    except InvalidSignature:
        return False
    return True
