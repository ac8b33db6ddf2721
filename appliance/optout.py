"""Whether an SMS reply revokes consent (SPEC C13): opt-out keywords anywhere in a short reply.

The rule (docs/dnc.md, "SMS opt-out"), after 47 CFR § 64.1200(a)(10) (FCC 24-24: a reply with
"stop", "quit", "end", "revoke", "opt out", "cancel" or "unsubscribe" revokes consent, in any
form a reasonable person would read so) and the carriers' standard set (CTIA: STOP, STOPALL,
UNSUBSCRIBE, CANCEL, END, QUIT):

- the text is normalised: NFKC (fullwidth ＳＴＯＰ is STOP), case folded, accents dropped, the
  typographic quotes, apostrophes and hyphens made plain;
- a reply of at most SHORT_REPLY characters (one SMS) opts out when a keyword stands in it as a
  word of its own (`stop`, `STOP please`, `Stop texting me`, `pls unsubscribe`, `opt-out`) —
  never as a part of another word (`stopwatch`, `stopped`, `ending`, `quitting`, `non-stop`);
- except a keyword right after a negation (`don't stop`, `do not stop`, `never stop`, `can't
  stop`; `ever`, `please`, `just` may stand between: `don't ever stop`), right after an article
  or possessive (`the end`, `my stop`), in the phrases `stop by`, `end of`, `end up`, or in
  quotation marks among other words (`he said "stop"`; a reply that is only `"STOP"` opts out);
- a longer reply is a conversation: it opts out only when its first word is a keyword.

A clause break (. , ; : ! ?) ends a negation's reach: `No, don't. STOP` opts out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SHORT_REPLY = 160  # characters: one SMS in GSM-7

# One-word keywords; "opt out" is two words (or `opt-out`, `optout`).
KEYWORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
NEGATIONS = frozenset({"not", "never", "cannot", "dont", "doesnt", "didnt", "wont", "cant"})
FILLERS = frozenset({"ever", "please", "pls", "plz", "just", "really"})  # may follow a negation
DETERMINERS = frozenset(
    {"the", "a", "an", "this", "that", "my", "your", "his", "her", "its", "our", "their"}
)
PHRASES = frozenset({("stop", "by"), ("end", "of"), ("end", "up")})  # not requests at all

# Quotes and apostrophes as people type them, made plain: " for double, ' for single.
_PLAIN = str.maketrans(
    {
        **dict.fromkeys("“”„‟«»〝〞＂「」『』", '"'),
        **dict.fromkeys("‘’‚‛‹›`´ʼ", "'"),
        **dict.fromkeys("\u2010\u2011", "-"),
    }
)
# A word: letters and digits, with inner apostrophes and hyphens (don't, non-stop, opt-out);
# a quotation mark; a clause break.
_TOKENS = re.compile(r"[^\W_]+(?:['-][^\W_]+)*|[\"']|[.,;:!?]")


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    kind: str  # "word", "quote" or "break"
    quoted: bool = False


def normalise(text: str) -> str:
    """NFKC, case folded, accents dropped, typographic quotes and hyphens made plain."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_PLAIN)
    decomposed = unicodedata.normalize("NFD", folded)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _tokens(text: str) -> list[_Token]:
    raw = _TOKENS.findall(normalise(text))
    kinds = ["quote" if t in "\"'" else "break" if t in ".,;:!?" else "word" for t in raw]
    # Only a closed pair of the same mark quotes; a mark left open quotes nothing.
    quoted = [False] * len(raw)
    open_at: dict[str, int] = {}
    for i, (t, kind) in enumerate(zip(raw, kinds, strict=True)):
        if kind != "quote":
            continue
        if t in open_at:
            for j in range(open_at.pop(t) + 1, i):
                quoted[j] = True
        else:
            open_at[t] = i
    return [_Token(t, k, q) for t, k, q in zip(raw, kinds, quoted, strict=True)]


def _keyword_at(tokens: list[_Token], i: int) -> bool:
    """Whether a keyword starts at token `i` (a word): `stop`, `opt-out`, `opt out`."""
    word = tokens[i].text
    if word in KEYWORDS or word == "opt-out":
        return True
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    return word == "opt" and after is not None and after.kind == "word" and after.text == "out"


def _negated(before: list[str]) -> bool:
    """Whether the words before a keyword (nearest last) end with a negation."""
    for word in reversed(before):
        plain = word.replace("'", "")
        if plain in NEGATIONS or word.endswith("n't"):
            return True
        if plain not in FILLERS:
            return False
    return False


def is_opt_out(text: str) -> bool:
    """Whether the reply revokes consent by the rule in this module's docstring."""
    tokens = _tokens(text)
    at = [i for i, t in enumerate(tokens) if t.kind == "word"]
    if not at:
        return False
    if len(text.strip()) > SHORT_REPLY:
        return _keyword_at(tokens, at[0])
    outside_quotes = any(not tokens[i].quoted for i in at)
    clause: list[str] = []  # the words since the last clause break
    for i, token in enumerate(tokens):
        if token.kind == "break":
            clause = []
        elif token.kind == "word":
            if _keyword_at(tokens, i) and _counts(tokens, i, clause, outside_quotes):
                return True
            clause.append(token.text)
    return False


def _counts(tokens: list[_Token], i: int, clause: list[str], outside_quotes: bool) -> bool:
    """Whether the keyword at token `i` asks to opt out, given the words of its clause before it."""
    token = tokens[i]
    if token.quoted and outside_quotes:
        return False  # he said "stop"
    if clause and clause[-1] in DETERMINERS:
        return False  # the end
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if after is not None and after.kind == "word" and (token.text, after.text) in PHRASES:
        return False  # stop by, end of
    return not _negated(clause)
