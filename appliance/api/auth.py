"""Who is calling: a bearer token on TCP, file permissions on the Unix socket (SPEC O3).

Failed authentications on TCP are limited per client address (issue #18): each address has a
bucket of `burst` failed tokens that refills one every `refill_seconds` (a request without any
token guesses nothing: it is counted and audited, but takes nothing from the bucket); the
failure that empties it blocks the address — every request from it is answered 429 with Retry-After, unchecked, valid
token or not — for `block_seconds`, twice as long at each further block up to `block_max`.
The table of addresses is a bounded LRU. Every failure is counted in
`dialbox_auth_failures_total{reason}` and audited as `auth.failed`, at most `per_address` entries
per address and `total` in all per minute; what was left out is summed up in one
`auth.suppressed` entry once the minute is over. The Unix socket (the local console) is not
limited: reaching it is the authorisation.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import pwd
import socket
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from appliance.api.problems import Problem
from appliance.store.db import Database
from appliance.store.export import iso_utc
from appliance.store.tokens import PREFIX, Token, authenticate, expired, is_revoked

log = logging.getLogger(__name__)

# What each token scope may do: admin everything; crm the campaign side; agent the agent desk;
# supervisor the agents' floor (every agent, messages, listening in: #25).
# An operation of scope "any" takes every token and narrows what an agent token sees itself
# (the recordings: an agent's own calls only, #24).
# An operation of scope "floor" reads the agents' floor (GET /agents): crm and supervisor tokens.
ALLOWED = {
    "admin": {"admin", "crm", "supervisor", "agent", "floor", "any"},
    "supervisor": {"supervisor", "agent", "floor", "any"},
    "crm": {"crm", "floor", "any"},
    "agent": {"agent", "any"},
}


@dataclass(frozen=True, slots=True)
class Caller:
    actor: str  # as the audit log records it: 'api:<token name>' or 'local:<user>'
    scope: str
    local: bool


def _peer_user(sock: socket.socket) -> str:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return pwd.getpwuid(uid).pw_name
    except (OSError, KeyError):
        return "unknown"


def client_key(address: str) -> str:
    """The unit a client is limited by: its IPv4 address, or the /64 of an IPv6 one (one host
    commonly holds a whole /64, so single IPv6 addresses would cost an attacker nothing)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class _Bucket:
    __slots__ = ("at", "blocked_until", "last_failure", "strikes", "tokens")
    tokens: float  # failures the client may still make
    at: float  # when `tokens` was last brought up to date
    strikes: int  # blocks so far
    blocked_until: float
    last_failure: float

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.at = now
        self.strikes = 0
        self.blocked_until = 0.0
        self.last_failure = now


class FailureLimiter:
    """A token bucket of failed authentications per client, with exponential back-off, in a
    table of at most `max_addresses` clients (the least recently failed are forgotten first)."""

    def __init__(
        self,
        *,
        burst: int = 10,
        refill_seconds: float = 6.0,
        block_seconds: float = 30.0,
        block_max: float = 3600.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.block_seconds = block_seconds
        self.block_max = block_max
        self.max_addresses = max_addresses
        self._table: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, or None when it may try now."""
        bucket = self._table.get(key)
        if bucket is None or now >= bucket.blocked_until:
            return None
        return bucket.blocked_until - now

    def failed(self, key: str, now: float) -> float | None:
        """Count one failure of `key`; the length of the block it started, if it did."""
        bucket = self._table.get(key)
        if bucket is None:
            bucket = self._table[key] = _Bucket(float(self.burst), now)
            while len(self._table) > self.max_addresses:
                self._table.popitem(last=False)
        else:
            self._table.move_to_end(key)
            if now - bucket.last_failure > self.block_max:
                bucket.strikes = 0  # quiet for longer than the longest block: a fresh start
            bucket.tokens = min(
                float(self.burst), bucket.tokens + (now - bucket.at) / self.refill_seconds
            )
            bucket.at = now
        bucket.last_failure = now
        bucket.tokens -= 1.0
        if bucket.tokens >= 1.0:
            return None
        bucket.strikes += 1
        block = min(self.block_seconds * 2.0 ** (bucket.strikes - 1), self.block_max)
        bucket.blocked_until = now + block
        return block


class AuditThrottle:
    """Which failures get an audit entry of their own: at most `per_address` per client and
    `total` in all per window of `window` seconds; the rest are counted, and `due` gives one
    summary of them per window once it is over."""

    TOP = 20  # addresses named in a summary

    def __init__(
        self,
        *,
        per_address: int = 5,
        total: int = 100,
        window: float = 60.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.per_address = per_address
        self.total = total
        self.window = window
        self.max_addresses = max_addresses
        self._start: float | None = None
        self._written = 0
        self._counts: dict[str, int] = {}  # entries written this window, per client
        self._suppressed: dict[str, int] = {}
        self._suppressed_total = 0

    def admit(self, key: str, now: float) -> bool:
        """Whether this failure gets an entry of its own. A window lasts until `due` closes it
        (AuthGuard asks before each failure), so no suppressed count is ever lost."""
        if self._start is None:
            self._start = now
        written = self._counts.get(key, 0)
        if (
            written < self.per_address
            and self._written < self.total
            and (written or len(self._counts) < self.max_addresses)
        ):
            self._counts[key] = written + 1
            self._written += 1
            return True
        self._suppressed_total += 1
        if key in self._suppressed or len(self._suppressed) < self.max_addresses:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
        return False

    def due(self, now: float, *, final: bool = False) -> dict[str, Any] | None:
        """The summary of a window that is over (or of the current one when `final`), once;
        None when there is nothing to say yet. The window is then closed."""
        if self._start is None or (not final and now < self._start + self.window):
            return None
        summary = None
        if self._suppressed_total:
            top = sorted(self._suppressed.items(), key=lambda kv: (-kv[1], kv[0]))[: self.TOP]
            summary = {
                "suppressed": self._suppressed_total,
                "addresses": len(self._suppressed),
                "by_address": dict(top),
                "since": self._start,
                "until": min(now, self._start + self.window),
            }
        self._start = None
        self._written = 0
        self._counts.clear()
        self._suppressed.clear()
        self._suppressed_total = 0
        return summary


class AuthGuard:
    """The limiter and the audit throttle, with the metric and the audit entries they feed."""

    def __init__(
        self, limiter: FailureLimiter | None = None, throttle: AuditThrottle | None = None
    ) -> None:
        self.limiter = limiter or FailureLimiter()
        self.throttle = throttle or AuditThrottle()

    def check(self, key: str, db: Database, metrics: Any, now: float) -> float | None:
        """Seconds `key` must still wait (its request is then a failure of its own, `limited`),
        or None when its credentials may be checked."""
        wait = self.limiter.retry_after(key, now)
        if wait is not None:
            self._count("limited", metrics)
            self._audit(key, "limited", db, now, "")
        return wait

    def failed(
        self, key: str, reason: str, db: Database, metrics: Any, now: float, what: str
    ) -> None:
        self._count(reason, metrics)
        # A request with no token at all guesses nothing: counted and audited, not limited.
        block = self.limiter.failed(key, now) if reason != "missing" else None
        if block is not None:
            log.warning("API: %s failed to authenticate too often; refused for %.0f s", key, block)
        self._audit(key, reason, db, now, what)

    def flush(self, db: Database, now: float, *, final: bool = False) -> None:
        """Write the summary of suppressed audit entries of a minute that is over."""
        summary = self.throttle.due(now, final=final)
        if summary is None:
            return
        self._write(db, "auth.suppressed", None, summary, now)

    def _count(self, reason: str, metrics: Any) -> None:
        if metrics is not None:
            metrics.auth_failures.labels(reason).inc()

    def _audit(self, key: str, reason: str, db: Database, now: float, what: str) -> None:
        self.flush(db, now)
        if self.throttle.admit(key, now):
            detail = {"reason": reason, **({"request": what} if what else {})}
            self._write(db, "auth.failed", key, detail, now)

    @staticmethod
    def _write(db: Database, action: str, target: str | None, detail: Any, now: float) -> None:
        from appliance.store.campaigns import audit

        try:
            with db.transaction():
                audit(db, "anonymous", action, target, detail, now)
        except Exception:  # the answer to the client must not depend on the audit write
            log.exception("API: could not write the %s audit entry", action)


AUTH_GUARD: web.AppKey[AuthGuard] = web.AppKey("auth_guard", AuthGuard)


def _fail(
    status: int, detail: str, error: str | None = None, retry: float | None = None
) -> Problem:
    challenge = 'Bearer realm="dialbox"' + (f', error="{error}"' if error else "")
    headers = {"WWW-Authenticate": challenge}
    if retry is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry)))
    return Problem(status, detail, headers=headers)


def _guard(request: web.Request) -> tuple[AuthGuard | None, str, Any]:
    """The app's guard (None in a bare app), the client's key and the metrics."""
    guard = request.app.get(AUTH_GUARD)
    metrics = None
    if guard is not None:
        from appliance.api.context import SERVICES

        services = request.app.get(SERVICES)
        metrics = services.metrics if services is not None else None
    return guard, client_key(request.remote or ""), metrics


def admit(request: web.Request, db: Database, now: float) -> None:
    """A 429 problem for a client that failed too often and is blocked now; else nothing."""
    guard, key, metrics = _guard(request)
    if guard is None:
        return
    wait = guard.check(key, db, metrics, now)
    if wait is not None:
        raise _fail(
            429,
            f"too many failed authentications from {key}; try again in "
            f"{max(1, math.ceil(wait))} s with a valid token",
            retry=wait,
        )


def refuse(
    request: web.Request, db: Database, now: float, reason: str, detail: str,
    error: str | None = "invalid_token",
) -> Problem:  # fmt: skip
    """The 401 problem for a failed authentication, counted by the guard (the metric, the
    limiter, the audit) — a wrong token, or a wrong login code (POST /desk/session)."""
    guard, key, metrics = _guard(request)
    if guard is not None:
        # The request line as the audit shows it; the path is the client's, so cut short.
        what = f"{request.method} {request.path[:200]}"
        guard.failed(key, reason, db, metrics, now, what)
    return _fail(401, detail, error)


def identify(request: web.Request, db: Database, now: float) -> Caller:
    """The caller of this request, or a 401 (429 for a client that failed too often) problem."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family == socket.AF_UNIX:
        # The socket is mode 0660, group dialbox: reaching it is the authorisation.
        return Caller(f"local:{_peer_user(sock)}", "admin", True)
    admit(request, db, now)
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise refuse(
            request,
            db,
            now,
            "missing",
            "send a token as 'Authorization: Bearer <token>'; create one on the box with "
            "`dialbox token create NAME --scope crm`",
            None,
        )
    token = authenticate(db, secret.strip(), now)
    if token is None:
        lapsed = expired(db, secret.strip(), now) if secret.strip().startswith(PREFIX) else None
        if lapsed is not None:
            raise refuse(request, db, now, "expired", _expired_detail(lapsed))
        reason = (
            "malformed"
            if not secret.strip().startswith(PREFIX)
            else ("revoked" if is_revoked(db, secret.strip()) else "unknown")
        )
        raise refuse(
            request,
            db,
            now,
            reason,
            "the token is unknown or revoked; `dialbox token list` on the box shows active tokens",
        )
    return Caller(f"api:{token.acts_as}", token.scope, False)


def _expired_detail(token: Token) -> str:
    when = iso_utc(token.expires_at)
    if token.agent is not None:
        return (
            f"the desk session of agent {token.agent} expired at {when}; ask a supervisor for a "
            f"new login code (POST /agents/{token.agent}/login-code) and log in again with it "
            "(POST /desk/session)"
        )
    return (
        f"the token {token.name!r} expired at {when}; create a new one on the box with "
        "`dialbox token create NAME --scope ...`"
    )


def require(caller: Caller, scope: str) -> None:
    if scope not in ALLOWED.get(caller.scope, set()):
        able = [s for s in ("crm", "agent", "supervisor", "admin") if scope in ALLOWED[s]]
        raise Problem(
            403,
            f"token scope {caller.scope!r} may not do this; it needs a token of scope "
            + " or ".join(repr(s) for s in able),
        )
