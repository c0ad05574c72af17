"""Serving a blob over HTTP, whole or one byte range (RFC 9110 §14), wherever it is stored."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from openline.api.errors import error_body
from openline.store.blobs import BlobStore

_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class Unsatisfiable(Exception):
    """The range starts past the end of the blob."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The range ``header`` asks for as (start, end exclusive), clipped to the blob; None
    for the whole blob: no header, or one a server may ignore (malformed, several ranges)."""
    match = _SINGLE_RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start, end = int(first), int(last) + 1 if last else size
        if last and end <= start:  # "bytes=9-5": invalid, so ignored
            return None
    elif last:  # a suffix: the last N bytes
        start, end = max(size - int(last), 0), size
    else:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size)


def blob_response(
    blobs: BlobStore, key: str, request: Request, media_type: str, filename: str
) -> Response | None:
    """The blob (or the range asked for), or None when there is no such blob."""
    path = blobs.local_path(key)
    stat = path.stat() if path is not None else None
    size = stat.st_size if stat is not None else blobs.size(key)
    if size is None:
        return None
    try:
        wanted = byte_range(request.headers.get("range"), size)
    except Unsatisfiable:
        # Checked here for local files too, so every 416 has the API's error shape.
        return JSONResponse(
            error_body("range_not_satisfiable", f"the range starts past the end ({size} bytes)"),
            status_code=416,
            headers={"content-range": f"bytes */{size}"},
        )
    if path is not None:  # Starlette serves files with ranges, ETag and Last-Modified
        return FileResponse(
            path,
            media_type=media_type,
            filename=filename,
            content_disposition_type="inline",
            stat_result=stat,
        )
    headers = {"accept-ranges": "bytes", "content-disposition": f'inline; filename="{filename}"'}
    start, end = wanted or (0, size)
    headers["content-length"] = str(end - start)
    if wanted is not None:
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        blobs.read_range(key, start, end),  # a sync iterator: Starlette reads it in a thread
        status_code=200 if wanted is None else 206,
        media_type=media_type,
        headers=headers,
    )
