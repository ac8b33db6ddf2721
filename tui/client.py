"""The console's only way to the box: the daemon's API, over its Unix socket or a URL + token."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp


def instant(value: Any) -> float | None:
    """Epoch seconds of an instant as the API writes it (ISO 8601 with an offset, e.g.
    2027-01-15T08:00:00.250Z); None for a missing or unreadable one."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


class Unreachable(Exception):
    """The daemon does not answer (not running, restarting, wrong socket or URL)."""


class ApiError(Exception):
    """The daemon answered with a problem document; `detail` says what to do."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _problem(status: int, raw: bytes, reason: str | None) -> ApiError:
    """The API's refusal: its problem document's `detail`, else the start of what it sent."""
    try:
        detail = json.loads(raw).get("detail") or reason
    except (ValueError, AttributeError):
        detail = raw.decode(errors="replace")[:200] or str(reason)
    return ApiError(status, str(detail))


class Client:
    def __init__(self, *, socket: str | None = None, url: str | None = None,
                 token: str | None = None, timeout: float = 30.0) -> None:  # fmt: skip
        if socket is None and url is None:
            raise ValueError("give the daemon's socket or URL")
        self.socket = socket
        self.base = (url or "http://localhost").rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def where(self) -> str:
        return f"unix:{self.socket}" if self.socket else self.base

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.UnixConnector(path=self.socket) if self.socket else None
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._session = aiohttp.ClientSession(
                connector=connector, headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )  # fmt: skip
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
                      content_type: str | None = None) -> Any:  # fmt: skip
        headers = {}
        payload = data
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        try:
            async with self._open().request(
                method, self.base + path, data=payload, headers=headers
            ) as resp:
                raw = await resp.read()
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
            raise Unreachable(
                f"cannot reach the daemon at {self.where}: {exc or type(exc).__name__}"
            ) from None
        if resp.status >= 400:
            raise _problem(resp.status, raw, resp.reason)
        if not raw:
            return None
        if resp.content_type == "application/json":
            return json.loads(raw)
        return raw.decode(errors="replace")

    async def download(self, path: str, dest: Path, *, chunk: int = 1 << 16) -> int:
        """GET a file (a recording's audio) into `dest`, a piece at a time — a long call is
        tens of megabytes; the bytes written. No total time limit: only a stall ends it."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout,
                                        sock_read=self.timeout)  # fmt: skip
        written = 0
        try:
            async with self._open().get(self.base + path, timeout=timeout) as resp:
                if resp.status >= 400:
                    raise _problem(resp.status, await resp.read(), resp.reason)
                with dest.open("wb") as out:
                    async for piece in resp.content.iter_chunked(chunk):
                        out.write(piece)
                        written += len(piece)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise Unreachable(
                f"cannot reach the daemon at {self.where}: {exc or type(exc).__name__}"
            ) from None
        return written

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.request("POST", path, body)

    async def put(self, path: str, body: Any) -> Any:
        return await self.request("PUT", path, body)

    async def patch(self, path: str, body: Any) -> Any:
        return await self.request("PATCH", path, body)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)

    async def upload(self, path: str, data: bytes) -> Any:
        return await self.request("POST", path, data=data, content_type="text/csv")

    # -- the Contacts and Strategy panes (#22) ----------------------------------------------

    async def contacts(self, campaign: str, *, state: str | None = None, search: str = "",
                       after: int = 0, limit: int = 100) -> Any:  # fmt: skip
        """One page of a campaign's contacts: {"items", "next", "labels"} (keyset paging)."""
        query = {"after": str(after), "limit": str(limit)}
        if state:
            query["state"] = state
        if search:
            query["q"] = search
        return await self.get(f"/campaigns/{quote(campaign, safe='')}/contacts?{urlencode(query)}")

    async def contact(self, contact_id: int) -> Any:
        return await self.get(f"/contacts/{int(contact_id)}")

    async def strategy(self, campaign: str) -> Any:
        return await self.get(f"/campaigns/{quote(campaign, safe='')}/strategy")

    async def check_strategy(self, campaign: str, definition: dict[str, Any]) -> Any:
        return await self.post(f"/campaigns/{quote(campaign, safe='')}/strategy/check", definition)

    async def save_strategy(self, campaign: str, definition: dict[str, Any]) -> Any:
        return await self.put(f"/campaigns/{quote(campaign, safe='')}/strategy", definition)

    # -- the Recordings screen (#24) ------------------------------------------------------------

    async def recordings(self, *, campaign: str | None = None, status: str | None = None,
                         since: str | None = None, after: int = 0, limit: int = 1000) -> Any:  # fmt: skip
        """One page of GET /recordings: {"items", "next"} (oldest first, keyset paging)."""
        query = {"campaign": campaign, "status": status, "since": since,
                 "after": str(after), "limit": str(limit)}  # fmt: skip
        return await self.get(f"/recordings?{urlencode({k: v for k, v in query.items() if v})}")

    async def report(
        self,
        kind: str,
        *,
        start: str | None = None,
        end: str | None = None,
        by: str = "day",
        campaign: str | None = None,
        csv: bool = False,
    ) -> Any:
        """GET /reports/{kind} (agents, lines, campaigns): the JSON document, or with `csv`
        the rows as CSV text."""
        from urllib.parse import quote, urlencode

        query = {"from": start, "to": end, "by": by, "campaign": campaign,
                 "format": "csv" if csv else None}  # fmt: skip
        given = urlencode({k: v for k, v in query.items() if v is not None})
        return await self.get(f"/reports/{quote(kind)}?{given}")
