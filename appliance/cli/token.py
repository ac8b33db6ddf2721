"""`dialbox token create|list|revoke`: API tokens for CRMs, agent desktops and tools (SPEC O3)."""

from __future__ import annotations

import argparse
import shlex
import socket
from typing import Any

from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit, table
from appliance.config.models import ApiSettings
from appliance.names import RULE
from appliance.store.export import iso_utc
from appliance.store.tokens import SCOPES, Token, create_token, list_tokens, revoke_token


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="create, list and revoke API tokens")
    tsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = tsub.add_parser("create", help="create a token; it is shown once, only now")
    c.add_argument("name", help=f"who uses it, e.g. crm-acme (the audit log names it); {RULE}")
    c.add_argument("--scope", choices=SCOPES, default="crm",
                   help="admin: everything; crm: campaigns, contacts, results, DNC, reports; "
                        "agent: the agent desk (the token's name is the agent's); supervisor: "
                        "the agents' floor — every agent, pop-up messages, login codes, "
                        "listening in (default: crm)")  # fmt: skip
    add_json_flag(c)
    c.set_defaults(func=create)
    ls = tsub.add_parser("list", help="list tokens (never their secrets)")
    add_json_flag(ls)
    ls.set_defaults(func=list_)
    r = tsub.add_parser("revoke", help="revoke a token at once")
    r.add_argument("name")
    add_json_flag(r)
    r.set_defaults(func=revoke)


def api_url(api: ApiSettings) -> str:
    """Where clients reach the API: https:// when it serves TLS; a wildcard listen address is
    shown as the box's host name (which the first-boot certificate names)."""
    host = api.listen
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"{'https' if api.tls.enabled else 'http'}://{host}:{api.port}"


def curl_line(api: ApiSettings, secret: str) -> str:
    cacert = f"--cacert {shlex.quote(str(api.tls.cert))} " if api.tls.enabled else ""
    auth = shlex.quote(f"Authorization: Bearer {secret}")
    return f"curl {cacert}-H {auth} {api_url(api)}/campaigns"


def create(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    secret = create_token(ctx.db, args.name, args.scope, ctx.clock.now(), ctx.actor)
    api = ctx.config.api
    document = {"name": args.name, "scope": args.scope, "token": secret, "url": api_url(api)}
    note = (
        "" if api.tls.enabled else
        "\nThe API speaks plain HTTP: keep it on this box, or set api.tls before other machines "
        "use it (docs/operations.md, 'HTTPS').\n"
    )  # fmt: skip
    emit(args, document, lambda d: (
        f"{d['token']}\n\nThis is the only time the token is shown; keep it in the client's "
        f"secret store. Use it as 'Authorization: Bearer <token>', e.g.\n\n"
        f"  {curl_line(api, d['token'])}\n{note}"))  # fmt: skip
    return 0


def _document(token: Token) -> dict[str, Any]:
    """The token as `--json` prints it: its instants in ISO 8601, as the API writes them."""
    document = token.as_dict()
    for key in ("created_at", "revoked_at", "last_used_at", "expires_at"):
        document[key] = iso_utc(document[key])
    return document


def _state(token: Token, now: float) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None:
        until = iso_utc(token.expires_at)
        return f"expired {until}" if token.expires_at <= now else f"active until {until}"
    return "active"


def list_(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    tokens = list_tokens(ctx.db)
    documents = [_document(t) for t in tokens]
    states = {t.name: _state(t, ctx.clock.now()) for t in tokens}

    def human(docs: list[dict[str, Any]]) -> str:
        if not docs:
            return "no tokens; create one with `dialbox token create NAME --scope crm`"
        return table(
            [(d["name"], d["scope"], states[d["name"]]) for d in docs],
            ["NAME", "SCOPE", "STATE"],
        )

    emit(args, documents, human)
    return 0


def revoke(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    token = revoke_token(ctx.db, args.name, ctx.clock.now(), ctx.actor)
    emit(args, _document(token), lambda d: f"token {d['name']} revoked")
    return 0
