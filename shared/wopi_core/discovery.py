"""WOPI discovery: parse the client's discovery XML, pick actions and read its proof keys.

Everything here is pure except `load_discovery_source`, which reads a file or makes one HTTP GET.
Action URLs are resolved from their templates in `wopi_core.action_urls`.

Caching: `Discovery.to_json()` writes the parsed document (zones, apps, actions, the raw proof-key attributes
and `fetched_at`) as compact JSON. `Discovery.from_json()` rebuilds it without lxml and rebuilds the RSA keys
from the raw attributes, so a cached copy is checked exactly like a freshly parsed one.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

logger = logging.getLogger(__name__)

ZONE_EXTERNAL_HTTPS = "external-https"
ZONE_INTERNAL_HTTPS = "internal-https"
ZONE_EXTERNAL_HTTP = "external-http"
ZONE_INTERNAL_HTTP = "internal-http"
DEFAULT_ZONE_PREFERENCE: tuple[str, ...] = (
    ZONE_EXTERNAL_HTTPS,
    ZONE_INTERNAL_HTTPS,
    ZONE_EXTERNAL_HTTP,
    ZONE_INTERNAL_HTTP,
)

MAX_DISCOVERY_BYTES = 16 * 1024 * 1024
"""Maximum size of a fetched discovery document. Real ones are about 10-200 KB."""

JSON_FORMAT_VERSION = 1

_PROOF_KEY_ATTRIBUTES = ("value", "modulus", "exponent", "oldvalue", "oldmodulus", "oldexponent")

# CryptoAPI PUBLICKEYBLOB header: bType, bVersion, reserved, aiKeyAlg, magic, bitlen, pubexp (little-endian).
_BLOB_HEADER = struct.Struct("<BBHI4sII")
_BLOB_TYPE_PUBLICKEY = 0x06
_BLOB_VERSION = 0x02
_CALG_RSA_KEYX = 0x0000A400
_CALG_RSA_SIGN = 0x00002400
_BLOB_MAGIC_RSA1 = b"RSA1"


class DiscoveryError(ValueError):
    """The discovery document could not be loaded, parsed or trusted. The message gives the reason."""


@dataclass(frozen=True, slots=True)
class Action:
    """One `<action>` of one app in one net-zone."""

    app_name: str
    name: str
    ext: str
    """Lower-case extension without the dot; "" for progid-only actions and apps named by MIME type."""
    progid: str
    requires: frozenset[str]
    default: bool
    urlsrc: str
    """URL template with its placeholders; "" when the document has none (a Collabora source template)."""
    fav_icon_url: str
    zone: str


@dataclass(frozen=True, slots=True)
class App:
    """One `<app>` element: a WOPI client application within one net-zone."""

    name: str
    fav_icon_url: str
    zone: str


@dataclass(frozen=True, slots=True)
class ProofKey:
    """The client's current and previous RSA public keys, plus the raw `<proof-key>` attributes they came from."""

    current: rsa.RSAPublicKey | None = field(default=None, compare=False)
    old: rsa.RSAPublicKey | None = field(default=None, compare=False)
    value: str = ""
    modulus: str = ""
    exponent: str = ""
    old_value: str = ""
    old_modulus: str = ""
    old_exponent: str = ""

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, str]) -> ProofKey:
        """Build both keys from `<proof-key>` attribute values; raise DiscoveryError when one is invalid.

        A key given both as modulus/exponent and as a CSP blob must be the same key in both forms.
        Empty or missing attributes mean no key (older servers publish empty `old*` attributes).
        """
        raw = {name: "".join(attributes.get(name, "").split()) for name in _PROOF_KEY_ATTRIBUTES}
        return cls(
            current=_build_public_key(raw["value"], raw["modulus"], raw["exponent"], "current"),
            old=_build_public_key(raw["oldvalue"], raw["oldmodulus"], raw["oldexponent"], "old"),
            value=raw["value"],
            modulus=raw["modulus"],
            exponent=raw["exponent"],
            old_value=raw["oldvalue"],
            old_modulus=raw["oldmodulus"],
            old_exponent=raw["oldexponent"],
        )

    def attributes(self) -> dict[str, str]:
        """Return the raw attribute values under their XML names."""
        return {
            "value": self.value,
            "modulus": self.modulus,
            "exponent": self.exponent,
            "oldvalue": self.old_value,
            "oldmodulus": self.old_modulus,
            "oldexponent": self.old_exponent,
        }


@dataclass(frozen=True, slots=True)
class Discovery:
    """A parsed discovery document, indexed for action lookup."""

    zones: tuple[str, ...]
    apps: tuple[App, ...]
    actions: tuple[Action, ...]
    proof_key: ProofKey
    fetched_at: float | None = None
    """Unix time at which the document was fetched, when the caller recorded it."""
    _by_extension: dict[tuple[str, str], tuple[Action, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[Action]] = {}
        for action in self.actions:
            if action.urlsrc and action.ext:
                index.setdefault((action.name.lower(), action.ext), []).append(action)
        object.__setattr__(self, "_by_extension", {key: tuple(found) for key, found in index.items()})

    def find_action(
        self,
        action_name: str,
        extension: str,
        zone_preference: Iterable[str] = DEFAULT_ZONE_PREFERENCE,
        capabilities: Iterable[str] | None = None,
    ) -> Action | None:
        """Return the action for a file extension (case-insensitive, dot optional), or None.

        Zones are tried in `zone_preference` order; when none of them has the action and the document has a
        single zone, that zone is used. Within a zone an action marked `default` wins over the others.
        With `capabilities` (such as {"locks", "update"}), actions requiring anything else are skipped.
        Actions without a urlsrc are never returned.
        """
        ext = extension.strip().lstrip(".").lower()
        if not ext:
            return None
        candidates = self._by_extension.get((action_name.lower(), ext), ())
        return _select(candidates, self.zones, zone_preference, capabilities)

    def find_action_for_mime_type(
        self,
        action_name: str,
        mime_type: str,
        zone_preference: Iterable[str] = DEFAULT_ZONE_PREFERENCE,
        capabilities: Iterable[str] | None = None,
    ) -> Action | None:
        """Return the action of an app named by MIME type (Collabora, ONLYOFFICE), chosen as in `find_action`."""
        requested_app = mime_type.strip().lower()
        requested_action = action_name.lower()
        candidates = tuple(
            action
            for action in self.actions
            if action.urlsrc and action.app_name.lower() == requested_app and action.name.lower() == requested_action
        )
        return _select(candidates, self.zones, zone_preference, capabilities)

    def extensions_for(self, action_name: str, zone: str | None = None) -> frozenset[str]:
        """Return every non-empty extension that has the named action, in one zone or in all of them."""
        requested = action_name.lower()
        return frozenset(
            action.ext
            for action in self.actions
            if action.ext and action.name.lower() == requested and (zone is None or action.zone == zone)
        )

    def app_count(self, zone: str | None = None) -> int:
        """Count `<app>` elements, in one zone or in all of them."""
        return sum(1 for app in self.apps if zone is None or app.zone == zone)

    def action_count(self, zone: str | None = None) -> int:
        """Count `<action>` elements, in one zone or in all of them."""
        return sum(1 for action in self.actions if zone is None or action.zone == zone)

    def has_urlsrc(self) -> bool:
        """Tell whether any action has a urlsrc. A document without any, such as a source template, opens no file."""
        return any(action.urlsrc for action in self.actions)

    def to_json(self) -> str:
        """Serialise to compact JSON for a cache; `from_json` reverses it."""
        document = {
            "format": JSON_FORMAT_VERSION,
            "fetched_at": self.fetched_at,
            "zones": list(self.zones),
            "apps": [[app.zone, app.name, app.fav_icon_url] for app in self.apps],
            "actions": [
                [
                    action.zone,
                    action.app_name,
                    action.name,
                    action.ext,
                    action.progid,
                    sorted(action.requires),
                    action.default,
                    action.urlsrc,
                    action.fav_icon_url,
                ]
                for action in self.actions
            ],
            "proof_key": self.proof_key.attributes(),
        }
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Discovery:
        """Rebuild a Discovery written by `to_json`; raise DiscoveryError if the text is not such a document."""
        try:
            document = json.loads(text)
            if document.get("format") != JSON_FORMAT_VERSION:
                raise DiscoveryError(f"cached discovery has format {document.get('format')!r}, expected 1")
            fetched_at = document["fetched_at"]
            return cls(
                zones=tuple(str(zone) for zone in document["zones"]),
                apps=tuple(App(name=name, fav_icon_url=icon, zone=zone) for zone, name, icon in document["apps"]),
                actions=tuple(_action_from_json(row) for row in document["actions"]),
                proof_key=ProofKey.from_attributes(document["proof_key"]),
                fetched_at=None if fetched_at is None else float(fetched_at),
            )
        except DiscoveryError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DiscoveryError(f"cached discovery is not valid: {exc}") from exc


def _action_from_json(row: list[Any]) -> Action:
    zone, app_name, name, ext, progid, requires, default, urlsrc, fav_icon_url = row
    return Action(
        app_name=app_name,
        name=name,
        ext=ext,
        progid=progid,
        requires=frozenset(requires),
        default=bool(default),
        urlsrc=urlsrc,
        fav_icon_url=fav_icon_url,
        zone=zone,
    )


def _select(
    candidates: Iterable[Action],
    zones: tuple[str, ...],
    zone_preference: Iterable[str],
    capabilities: Iterable[str] | None,
) -> Action | None:
    usable = list(candidates)
    if capabilities is not None:
        allowed = frozenset(capability.lower() for capability in capabilities)
        usable = [action for action in usable if action.requires <= allowed]
    search_order = list(zone_preference)
    if len(zones) == 1 and zones[0] not in search_order:
        search_order.append(zones[0])
    for zone in search_order:
        in_zone = [action for action in usable if action.zone == zone]
        if in_zone:
            return next((action for action in in_zone if action.default), in_zone[0])
    return None


def parse_discovery(xml: bytes, *, fetched_at: float | None = None) -> Discovery:
    """Parse a WOPI discovery document into a Discovery; raise DiscoveryError for any malformed input.

    The parser resolves no entities and makes no network access. Comments are skipped.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise DiscoveryError(f"discovery document is not well-formed XML: {exc}") from exc
    if etree.QName(root).localname != "wopi-discovery":
        raise DiscoveryError(f"discovery root element is <{etree.QName(root).localname}>, expected <wopi-discovery>")

    zones: list[str] = []
    apps: list[App] = []
    actions: list[Action] = []
    for zone_element in root.iterchildren("{*}net-zone"):
        zone = zone_element.get("name", "")
        if zone not in zones:
            zones.append(zone)
        for app_element in zone_element.iterchildren("{*}app"):
            app = App(name=app_element.get("name", ""), fav_icon_url=app_element.get("favIconUrl", ""), zone=zone)
            apps.append(app)
            actions.extend(_parse_action(element, app) for element in app_element.iterchildren("{*}action"))

    proof_key_element = next(root.iterchildren("{*}proof-key"), None)
    proof_key = ProofKey() if proof_key_element is None else ProofKey.from_attributes(dict(proof_key_element.attrib))
    discovery = Discovery(
        zones=tuple(zones), apps=tuple(apps), actions=tuple(actions), proof_key=proof_key, fetched_at=fetched_at
    )
    logger.debug("discovery parsed zones=%s apps=%d actions=%d", ",".join(zones), discovery.app_count(), len(actions))
    return discovery


def _parse_action(element: etree._Element, app: App) -> Action:
    requires = frozenset(group.strip().lower() for group in element.get("requires", "").split(",") if group.strip())
    return Action(
        app_name=app.name,
        name=element.get("name", ""),
        ext=element.get("ext", "").strip().lstrip(".").lower(),
        progid=element.get("progid", ""),
        requires=requires,
        default=element.get("default", "").strip().lower() == "true",
        urlsrc=element.get("urlsrc", "").strip(),
        fav_icon_url=app.fav_icon_url,
        zone=app.zone,
    )


def _decode_base64(text: str, attribute: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DiscoveryError(f"proof-key {attribute} is not valid Base64") from exc


def _key_from_numbers(modulus: bytes, exponent: int, label: str) -> rsa.RSAPublicKey:
    try:
        return rsa.RSAPublicNumbers(exponent, int.from_bytes(modulus, "big")).public_key()
    except ValueError as exc:
        raise DiscoveryError(f"proof-key {label} key is not a valid RSA public key: {exc}") from exc


def _key_from_csp_blob(blob: bytes, label: str) -> rsa.RSAPublicKey:
    """Read a .NET `ExportCspBlob` PUBLICKEYBLOB: a 20-byte header, then the modulus in little-endian order."""
    if len(blob) < _BLOB_HEADER.size:
        raise DiscoveryError(f"proof-key {label} value blob is {len(blob)} bytes, shorter than its header")
    blob_type, version, _reserved, algorithm, magic, bit_length, exponent = _BLOB_HEADER.unpack_from(blob)
    if blob_type != _BLOB_TYPE_PUBLICKEY or version != _BLOB_VERSION or magic != _BLOB_MAGIC_RSA1:
        raise DiscoveryError(f"proof-key {label} value is not an RSA PUBLICKEYBLOB")
    if algorithm not in (_CALG_RSA_KEYX, _CALG_RSA_SIGN):
        raise DiscoveryError(f"proof-key {label} value has key algorithm {algorithm:#x}, expected RSA")
    modulus_length = (bit_length + 7) // 8
    if len(blob) != _BLOB_HEADER.size + modulus_length:
        raise DiscoveryError(
            f"proof-key {label} value is {len(blob)} bytes, expected {_BLOB_HEADER.size + modulus_length} "
            f"for a {bit_length}-bit key"
        )
    modulus = blob[_BLOB_HEADER.size :][::-1]
    return _key_from_numbers(modulus, exponent, label)


def _build_public_key(value: str, modulus: str, exponent: str, label: str) -> rsa.RSAPublicKey | None:
    if not (value or modulus or exponent):
        return None
    if bool(modulus) != bool(exponent):
        raise DiscoveryError(f"proof-key {label} key has only one of modulus and exponent")
    from_numbers = None
    if modulus:
        prefix = "" if label == "current" else "old"
        exponent_value = int.from_bytes(_decode_base64(exponent, prefix + "exponent"), "big")
        from_numbers = _key_from_numbers(_decode_base64(modulus, prefix + "modulus"), exponent_value, label)
    from_blob = None
    if value:
        from_blob = _key_from_csp_blob(_decode_base64(value, "value" if label == "current" else "oldvalue"), label)
    if from_numbers is not None and from_blob is not None:
        if from_numbers.public_numbers() != from_blob.public_numbers():
            raise DiscoveryError(f"proof-key {label} key differs between its modulus/exponent and its value blob")
        return from_numbers
    return from_numbers or from_blob


def load_discovery_source(source: str, timeout: float, *, client: httpx.Client | None = None) -> bytes:
    """Return the raw discovery document from an http(s) URL, a file:// URL or a local path.

    HTTP fetches use `timeout` seconds, follow redirects and accept only a 200 response. A given `client` is
    used and left open; otherwise a client is made for this call. Raise DiscoveryError on any failure.
    """
    parsed = urlsplit(source)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        return _fetch(source, timeout, client)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise DiscoveryError(f"discovery file URL names a remote host: {source}")
        path = Path(url2pathname(parsed.path))
    elif scheme == "" or len(scheme) == 1:  # a single letter is a Windows drive, not a scheme
        path = Path(source)
    else:
        raise DiscoveryError(f"discovery source has unsupported scheme {scheme!r}: {source}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DiscoveryError(f"could not read discovery file {path}: {exc.strerror or exc}") from exc


def _fetch(url: str, timeout: float, client: httpx.Client | None) -> bytes:
    own_client = client is None
    http = client if client is not None else httpx.Client(timeout=timeout)
    try:
        with http.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise DiscoveryError(f"discovery request to {url} returned HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DISCOVERY_BYTES:
                    raise DiscoveryError(f"discovery from {url} exceeds {MAX_DISCOVERY_BYTES} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"discovery request to {url} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if own_client:
            http.close()


def fetch_discovery(source: str, timeout: float, *, now: float, client: httpx.Client | None = None) -> Discovery:
    """Load and parse a discovery document, recording `now` (Unix time) as its `fetched_at`."""
    return parse_discovery(load_discovery_source(source, timeout, client=client), fetched_at=now)
