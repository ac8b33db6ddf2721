"""The two web pages the daemon serves beside its API (issue #25): the agent desktop at /desk/ and
the supervisor's page at /supervisor/, with their static files under /ui/. Plain HTML and a small
hand-written script each (appliance/web/static/), no build step and nothing from elsewhere: the
pages call the API with the token the person typed, held in the tab's sessionStorage.

They are not operations of the API (not in /openapi.json) and need no token: they hold no data.
Every answer carries a Content-Security-Policy that lets a page load and connect to this box only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

# What a page may load and where it may connect: this box, nothing else; no inline script, no
# frames, no plugins, forms post nowhere (the pages send JSON with fetch()).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# A static file's name: one segment of plain characters, a known suffix; nothing else is served
# (no '..', no '/', no dot files), whatever the file system holds.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg|png|ico)$")
PAGES = {"/desk/": "desk.html", "/supervisor/": "supervisor.html"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _load() -> dict[str, Asset]:
    """Every servable file of the package's static folder, read once at start."""
    found: dict[str, Asset] = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        if entry.is_file() and NAME.match(entry.name):
            body = entry.read_bytes()
            suffix = "." + entry.name.rsplit(".", 1)[1]
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            found[entry.name] = Asset(body, TYPES[suffix], etag)
    return found


def _answer(request: web.Request, asset: Asset, cache: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


def install(app: web.Application) -> None:
    """Add the pages' routes to the daemon's application (outside the OpenAPI document)."""
    assets = _load()

    def page(name: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            # The page itself is checked every time, so a new version of the box shows at once.
            return _answer(request, assets[name], "no-cache")

        return handler

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        asset = assets.get(name) if NAME.match(name) else None
        if asset is None:
            raise web.HTTPNotFound()
        # Revalidated after five minutes (the ETag answers 304 when it did not change).
        return _answer(request, asset, "public, max-age=300, must-revalidate")

    def redirect(to: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            raise web.HTTPPermanentRedirect(to)

        return handler

    for path, name in PAGES.items():
        app.router.add_get(path, page(name))
        app.router.add_get(path.rstrip("/"), redirect(path))
    app.router.add_get("/ui/{file}", static)
