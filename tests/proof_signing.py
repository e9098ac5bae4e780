"""Test helpers that play the WOPI client's part: key pairs, a discovery document and signed headers."""

from __future__ import annotations

import base64
import struct
import time
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wopi_core.proof_keys import build_proof_message, unix_to_ticks


@dataclass(frozen=True)
class ClientKeys:
    current: rsa.RSAPrivateKey
    old: rsa.RSAPrivateKey


@cache
def client_keys() -> ClientKeys:
    """Return two RSA key pairs, made once per test process because generating them is slow."""
    return ClientKeys(
        current=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        old=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def _csp_blob(key: rsa.RSAPublicKey) -> str:
    numbers = key.public_numbers()
    size = key.key_size // 8
    header = struct.pack("<BBHI4sII", 0x06, 0x02, 0, 0xA400, b"RSA1", key.key_size, numbers.e)
    return base64.b64encode(header + numbers.n.to_bytes(size, "little")).decode()


def _attributes(prefix: str, key: rsa.RSAPublicKey) -> str:
    numbers = key.public_numbers()
    modulus = base64.b64encode(numbers.n.to_bytes(key.key_size // 8, "big")).decode()
    exponent = base64.b64encode(numbers.e.to_bytes(3, "big")).decode()
    return f'{prefix}value="{_csp_blob(key)}" {prefix}modulus="{modulus}" {prefix}exponent="{exponent}"'


def discovery_xml(keys: ClientKeys, action_origin: str = "https://office.example.test") -> bytes:
    """Build a small discovery document with view and edit actions for .docx and .wopitest and both keys."""
    current = _attributes("", keys.current.public_key())
    old = _attributes("old", keys.old.public_key())
    actions = "".join(
        f'<action name="{name}" ext="{ext}" requires="{"locks,update" if name == "edit" else ""}" '
        f'urlsrc="{action_origin}/{app}/{name}.aspx?&lt;ui=UI_LLCC&amp;&gt;&lt;rs=DC_LLCC&amp;&gt;'
        f'&lt;wopisrc=WOPI_SOURCE&amp;&gt;"/>'
        for app, ext in (("we/wordeditorframe", "docx"), ("wv/wopitest", "wopitest"))
        for name in ("view", "edit")
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><wopi-discovery><net-zone name="external-https">'
        f'<app name="Word" favIconUrl="{action_origin}/word.ico" checkLicense="true">{actions}</app>'
        f"</net-zone><proof-key {current} {old}/></wopi-discovery>"
    ).encode()


def sign(key: rsa.RSAPrivateKey, token: str, url: str, ticks: int) -> str:
    signature = key.sign(build_proof_message(token, url, ticks), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def proof_headers(token: str, url: str, *, keys: ClientKeys | None = None, age_seconds: float = 0) -> dict[str, str]:
    """Return X-WOPI-Proof, X-WOPI-ProofOld and X-WOPI-TimeStamp as the WOPI client would send them."""
    pair = keys or client_keys()
    ticks = unix_to_ticks(time.time() - age_seconds)
    return {
        "X-WOPI-TimeStamp": str(ticks),
        "X-WOPI-Proof": sign(pair.current, token, url, ticks),
        "X-WOPI-ProofOld": sign(pair.old, token, url, ticks),
    }
