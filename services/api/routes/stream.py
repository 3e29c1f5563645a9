"""HLS through the API with stream tokens (`intake.streamtoken`), for stores that serve
nothing anonymously: `GET /api/v1/stream/{job_id}/{token}/{path}`. Playlists are read
from the store and their segment/subtitle URIs replaced by presigned URLs that expire
with the token; relative playlist URIs stay relative, so they come back here with the
same token. Any other path answers 307 to a presigned URL. No API key (players cannot
send one): the token is the authorisation, and it opens one job only."""

from __future__ import annotations

import asyncio
import posixpath
import time
import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from contracts import layout
from intake import streamtoken
from media.hls import rewrite_uris
from runtime.storage import store
from services.api.deps import PresignDep, SettingsDep, StoreDep
from services.api.errors import ApiError

router = APIRouter(prefix="/api/v1/stream", tags=["stream"])
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MAX_PLAYLIST_BYTES = 4 << 20
HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "private, max-age=2"}


def job_key(job_id: str, base_key: str, relative: str) -> str | None:
    """The object key `relative` names from `base_key`'s folder, if it stays inside the
    job's `processed/<job>/` (no `..` escape, no absolute URL); else None."""
    if "://" in relative or relative.startswith("/") or "\\" in relative:
        return None
    key = posixpath.normpath(posixpath.join(posixpath.dirname(base_key), relative))
    return key if key.startswith(layout.processed_prefix(job_id)) else None


STREAM_RESPONSES: dict[int | str, dict] = {200: {"content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}}},
                                           307: {"description": "Redirect to a presigned URL of the file"},
                                           403: {}, 404: {}}


@router.get("/{job_id}/{token}/{path:path}", response_class=Response, operation_id="stream_get",
            summary="A job's HLS playlist (or file) under a stream token", responses=STREAM_RESPONSES)
@router.head("/{job_id}/{token}/{path:path}", response_class=Response, operation_id="stream_head",
             summary="A job's HLS playlist (or file) under a stream token (headers only)", responses=STREAM_RESPONSES)
async def stream(job_id: uuid.UUID, token: str, path: str, request: Request, settings: SettingsDep,
                 client: StoreDep, presigner: PresignDep) -> Response:
    jid = str(job_id)
    try:
        expires = streamtoken.check(settings.stream_secret_value() or "", jid, token)
    except streamtoken.TokenRefused as e:
        raise ApiError(403, "forbidden", str(e)) from e
    key = job_key(jid, layout.processed_prefix(jid), path)
    if key is None or key.endswith("/"):
        raise ApiError(404, "not_found", f"{path!r} is not an output of job {jid}")
    lifetime = timedelta(seconds=max(60.0, expires - time.time()))
    if not key.endswith(".m3u8"):
        url = await asyncio.to_thread(store.presigned_key_url, presigner, settings.s3.bucket, key, lifetime)
        return RedirectResponse(url, status_code=307, headers=HEADERS)
    data = await asyncio.to_thread(store.get_bytes, client, settings.s3.bucket, key, MAX_PLAYLIST_BYTES)
    if data is None:
        raise ApiError(404, "not_found", f"job {jid} has no {path!r} (yet)")

    def sign(uri: str) -> str:
        target = job_key(jid, key, uri)
        if target is None or target.endswith(".m3u8"):
            return uri  # playlists stay relative (they come back here); foreign URIs stay as they are
        return store.presigned_key_url(presigner, settings.s3.bucket, target, lifetime)

    text = await asyncio.to_thread(rewrite_uris, data.decode("utf-8", "replace"), sign)
    body = b"" if request.method == "HEAD" else text.encode()
    return Response(body, media_type=PLAYLIST_TYPE, headers=HEADERS)
