"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openline.platform import Platform


def platform(request: Request) -> Platform:
    return request.app.state.platform


async def authenticated(request: Request) -> None:
    await request.app.state.auth.check(request)


PlatformDep = Annotated[Platform, Depends(platform)]
