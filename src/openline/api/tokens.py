"""Short-lived access tokens, as Cartesia's ``POST /access-token``.

A browser cannot put a header on a websocket, so it passes a credential in the URL,
where proxies and logs may keep it: a token that expires in a minute and can only open
calls is what belongs there, never the API key itself. Tokens are signed (any worker
with the same signing secret accepts them; nothing is stored) and name their API key,
so deleting the key ends them too. A token is checked when a connection opens: a call
may outlast it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from openline._signing import Signer

PREFIX = "ol_at_"
DEFAULT_TTL_S = 60
MAX_TTL_S = 3600
_PURPOSE = "access_token"

router = APIRouter(tags=["auth"])


class Grants(BaseModel):
    # Cartesia's grants; openline serves no standalone STT/TTS, so only ``agent`` opens anything.
    model_config = ConfigDict(extra="forbid")
    agent: bool | None = None
    stt: bool | None = None
    tts: bool | None = None


class AccessTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_in: int | None = Field(
        default=None, ge=1, le=MAX_TTL_S, description=f"Seconds; default {DEFAULT_TTL_S}."
    )
    grants: Grants | None = Field(default=None, description="Default: the agent grant.")


class AccessTokenResponse(BaseModel):
    token: str


@dataclass(frozen=True)
class AccessToken:
    key_id: str
    grants: frozenset[str]


class AccessTokens:
    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def mint(self, key_id: str, expires_in: float, grants: frozenset[str]) -> str:
        payload = {"k": key_id, "exp": time.time() + expires_in, "g": sorted(grants)}
        return PREFIX + self._signer.sign(_PURPOSE, payload)

    def read(self, token: str) -> AccessToken | None:
        """The token's key and grants, if it is genuine and unexpired."""
        if not token.startswith(PREFIX):
            return None
        payload = self._signer.unsign(_PURPOSE, token[len(PREFIX) :])
        if payload is None:
            return None
        key_id, expires, grants = payload.get("k"), payload.get("exp"), payload.get("g")
        if not isinstance(key_id, str) or not isinstance(grants, list):
            return None
        if not isinstance(expires, int | float) or expires <= time.time():
            return None
        return AccessToken(key_id, frozenset(str(grant) for grant in grants))


@router.post("/access-token", response_model=AccessTokenResponse)
@router.post("/agents/access-token", response_model=AccessTokenResponse)
async def create_access_token(request: Request, body: AccessTokenRequest) -> dict:
    """A token for ``?access_token=`` (the call websocket); needs the API key in a header."""
    auth = request.app.state.auth
    key_id = await auth.check(request)
    grants = body.grants or Grants(agent=True)
    granted = frozenset(name for name, given in grants.model_dump().items() if given)
    return {"token": auth.tokens.mint(key_id, body.expires_in or DEFAULT_TTL_S, granted)}
