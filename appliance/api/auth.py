"""Who is calling: a bearer token on TCP, file permissions on the Unix socket (SPEC O3)."""

from __future__ import annotations

import pwd
import socket
import struct
from dataclasses import dataclass

from aiohttp import web

from appliance.api.problems import Problem
from appliance.store.db import Database
from appliance.store.tokens import authenticate

# What each token scope may do: admin everything; crm the campaign side; agent the agent desk.
ALLOWED = {
    "admin": {"admin", "crm", "agent"},
    "crm": {"crm"},
    "agent": {"agent"},
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


def identify(request: web.Request, db: Database, now: float) -> Caller:
    """The caller of this request, or a 401 problem."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family == socket.AF_UNIX:
        # The socket is mode 0660, group dialbox: reaching it is the authorisation.
        return Caller(f"local:{_peer_user(sock)}", "admin", True)
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="dialbox"'}
    if scheme.lower() != "bearer" or not secret.strip():
        raise Problem(
            401,
            "send a token as 'Authorization: Bearer <token>'; create one on the box with "
            "`dialbox token create NAME --scope crm`",
            headers=challenge,
        )
    token = authenticate(db, secret.strip(), now)
    if token is None:
        raise Problem(
            401,
            "the token is unknown or revoked; `dialbox token list` on the box shows active tokens",
            headers={"WWW-Authenticate": 'Bearer realm="dialbox", error="invalid_token"'},
        )
    return Caller(f"api:{token.name}", token.scope, False)


def require(caller: Caller, scope: str) -> None:
    if scope not in ALLOWED.get(caller.scope, set()):
        raise Problem(
            403,
            f"token scope {caller.scope!r} may not do this; it needs a token of scope {scope!r}"
            + (" or 'admin'" if scope != "admin" else ""),
        )
