"""Proof-key verification of WOPI requests, as the WOPI_PROOF_KEYS mode requires."""

from __future__ import annotations

import logging

from starlette.requests import Request

from wopi_api.state import app_state
from wopi_core.settings import ProofKeyMode

logger = logging.getLogger(__name__)


async def verify_request_proof(request: Request, token: str) -> None:
    """Check X-WOPI-Proof/X-WOPI-ProofOld against the discovery keys, unless WOPI_PROOF_KEYS is off."""
    settings = app_state(request)["settings"]
    if settings.proof_keys is ProofKeyMode.OFF:
        return
    # TODO: verify against the cached discovery keys once discovery loading is wired in.
