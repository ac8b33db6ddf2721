"""The pages' files as the daemon's application serves them (issue #25): the two pages and their
script and style with the right types, a policy that lets a page load nothing from elsewhere,
caching that revalidates, and nothing outside the static folder, however the path is spelled.
In-process (aiohttp's test server on the real create_app's routes), no browser."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from appliance import web as pages
from appliance.api.spec import problems_middleware


def _run(check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        app = web.Application(middlewares=[problems_middleware])
        pages.install(app)
        async with TestClient(TestServer(app)) as client:
            await check(client)

    asyncio.run(main())


def test_pages_and_files_have_their_types_a_strict_policy_and_revalidate() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for path, kind in [("/desk/", "text/html"), ("/supervisor/", "text/html"),
                           ("/ui/common.js", "text/javascript"), ("/ui/desk.js", "text/javascript"),
                           ("/ui/supervisor.js", "text/javascript"), ("/ui/style.css", "text/css")]:  # fmt: skip
            got = await client.get(path)
            assert got.status == 200, path
            assert got.headers["Content-Type"].startswith(kind), (path, got.headers)
            csp = got.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp
            assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "http" not in csp and "*" not in csp  # no other origin, no wildcard
            assert got.headers["X-Content-Type-Options"] == "nosniff"
            etag = got.headers["ETag"]
            again = await client.get(path, headers={"If-None-Match": etag})
            assert again.status == 304 and await again.read() == b""
        assert (await client.get("/desk/")).headers["Cache-Control"] == "no-cache"
        assert "max-age=300" in (await client.get("/ui/desk.js")).headers["Cache-Control"]

        page = await (await client.get("/desk/")).text()
        # Everything the page loads is this box's: no CDN, no inline script.
        assert (
            'src="/ui/common.js"' in page
            and "<script>" not in page
            and "//" not in page.replace("://", "").split("<body")[0]
        )

        moved = await client.get("/desk", allow_redirects=False)
        assert moved.status == 308 and moved.headers["Location"] == "/desk/"

    _run(check)


def test_paths_outside_the_static_files_are_refused() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for path in ["/ui/../__init__.py", "/ui/%2e%2e%2f__init__.py", "/ui/..%2f..%2fetc%2fpasswd",
                     "/ui/.hidden.js", "/ui/__init__.py", "/ui/desk.html%00.js", "/ui/nothing.js",
                     "/ui/DESK.JS", "/ui/", "/ui/static%2fdesk.js"]:  # fmt: skip
            got = await client.get(path)
            assert got.status == 404, (path, got.status)
            body = await got.text()
            assert "__future__" not in body and "root:" not in body
        # A page is read-only.
        assert (await client.post("/desk/")).status == 405

    _run(check)
