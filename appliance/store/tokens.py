"""API tokens (SPEC O3): created with a scope, shown once, stored hashed, revocable.

A token may expire (`expires_at`; None: never). A desk session (#25) is an agent-scope token the
box makes when an agent logs in with a supervisor's login code: named `desk:<agent>:<random>`
(no name `dialbox token create` accepts has a ':'), it acts for `agent` — the API sees it as
that agent, as it sees a long-lived token named after the agent — and expires after 12 hours."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from appliance.errors import DialboxError, NotFound
from appliance.names import check_name
from appliance.store.campaigns import audit
from appliance.store.db import Database

Scope = Literal["admin", "crm", "agent", "supervisor"]
SCOPES: tuple[Scope, ...] = ("admin", "crm", "agent", "supervisor")
PREFIX = "dbx_"
SESSION_SECONDS = 12 * 3600.0  # a desk session opened with a login code


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    name: str
    scope: Scope
    created_at: float
    revoked_at: float | None
    last_used_at: float | None
    expires_at: float | None = None  # None: never
    agent: str | None = None  # a desk session's agent; None: the token acts as its own name

    @property
    def acts_as(self) -> str:
        """Who the API and the audit log see: the session's agent, or the token's name."""
        return self.agent or self.name

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "active": self.revoked_at is None,
            "expires_at": self.expires_at,
            "agent": self.agent,
        }


def digest(secret: str) -> str:
    """SHA-256 of the token text: the tokens are 256 random bits, so no slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _row(r: tuple[Any, ...]) -> Token:
    return Token(int(r[0]), str(r[1]), r[2], float(r[3]), r[4], r[5], r[6], r[7])


_COLUMNS = "id, name, scope, created_at, revoked_at, last_used_at, expires_at, agent"


def create_token(db: Database, name: str, scope: Scope, now: float, actor: str) -> str:
    """A new token's secret (the only time it is ever seen); the store keeps its hash."""
    check_name("token", name)
    if scope not in SCOPES:
        raise DialboxError(f"scope must be one of: {', '.join(SCOPES)}")
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.transaction():
        if db.scalar("SELECT 1 FROM tokens WHERE name = ?", (name,)):
            raise DialboxError(
                f"a token named {name!r} exists; revoke it first or choose another name"
            )
        db.conn.execute(
            "INSERT INTO tokens(name, scope, hash, created_at) VALUES (?, ?, ?, ?)",
            (name, scope, digest(secret), now),
        )
        audit(db, actor, "token.create", name, {"scope": scope}, now)
    return secret


def create_session(db: Database, agent: str, now: float, actor: str,
                   seconds: float = SESSION_SECONDS) -> tuple[str, Token]:  # fmt: skip
    """A desk session for `agent`: an agent-scope token acting for it, expiring in `seconds`;
    its secret (shown once) and the token. Sessions expired for a day are removed."""
    secret = PREFIX + secrets.token_urlsafe(32)
    name = f"desk:{agent}:{secrets.token_hex(4)}"
    with db.transaction():
        db.conn.execute(
            "DELETE FROM tokens WHERE agent IS NOT NULL AND expires_at < ?", (now - 86400.0,)
        )
        db.conn.execute(
            "INSERT INTO tokens(name, scope, hash, created_at, expires_at, agent)"
            " VALUES (?, 'agent', ?, ?, ?, ?)",
            (name, digest(secret), now, now + seconds, agent),
        )
        audit(db, actor, "desk.session", agent, {"token": name, "expires_at": now + seconds}, now)
    row = db.conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE name = ?", (name,)).fetchone()
    assert row is not None
    return secret, _row(row)


def list_tokens(db: Database) -> list[Token]:
    return [_row(r) for r in db.conn.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY name")]


def revoke_token(db: Database, name: str, now: float, actor: str) -> Token:
    with db.transaction():
        row = db.conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no token named {name!r}; `dialbox token list` shows them")
        if row[4] is None:
            db.conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (now, row[0]))
            audit(db, actor, "token.revoke", name, {}, now)
    row = db.conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE name = ?", (name,)).fetchone()
    assert row is not None
    return _row(row)


def authenticate(db: Database, secret: str, now: float) -> Token | None:
    """The active token with this secret, or None (unknown, revoked or expired).

    Timing: the secret itself is never compared. The row is found by the SHA-256 of what the
    client sent, so how long the index lookup takes depends on how the *hash* of a guess
    compares with stored hashes — which tells nothing about any secret (finding a guess whose
    hash shares a prefix with a stored one is no step towards its preimage). The found hash is
    still confirmed with hmac.compare_digest, so no byte-by-byte comparison of ours remains."""
    if not secret.startswith(PREFIX):
        return None
    presented = digest(secret)
    row = db.conn.execute(
        f"SELECT {_COLUMNS}, hash FROM tokens WHERE hash = ? AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (presented, now),
    ).fetchone()
    if row is None or not hmac.compare_digest(str(row[8]), presented):
        return None
    token = _row(row[:8])
    if token.last_used_at is None or now - token.last_used_at > 60.0:  # one write a minute at most
        with db.transaction():
            db.conn.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, token.id))
    return token


def expired(db: Database, secret: str, now: float) -> Token | None:
    """The token of this secret if it has expired (not revoked): why a request failed."""
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM tokens WHERE hash = ? AND revoked_at IS NULL"
        " AND expires_at IS NOT NULL AND expires_at <= ?",
        (digest(secret), now),
    ).fetchone()
    return None if row is None else _row(row)


def is_revoked(db: Database, secret: str) -> bool:
    """Whether this secret is a revoked token's (why a request failed, for the metric)."""
    return bool(
        db.scalar(
            "SELECT 1 FROM tokens WHERE hash = ? AND revoked_at IS NOT NULL", (digest(secret),)
        )
    )
