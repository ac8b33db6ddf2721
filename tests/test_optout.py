"""The SMS opt-out rule (appliance/optout.py, docs/dnc.md): examples, and its properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from appliance.optout import KEYWORDS, SHORT_REPLY, is_opt_out, normalise

# Words that are none of the rule's: no keyword, negation, filler, article, or `by`/`of`/`up`,
# and some that hold a keyword inside them.
SAFE = (
    "hi", "yes", "no", "thanks", "me", "texting", "calling", "who", "is", "wrong", "number",
    "ok", "now", "again", "messages", "at", "work", "later", "got", "it", "im", "busy", "and",
    "stopwatch", "stopped", "stopping", "ending", "endless", "weekend", "legend", "quitting",
    "quite", "cancelled", "unsubscribed", "revoked", "non-stop", "nonstop", "option", "outside",
)  # fmt: skip
KEYWORD_FORMS = (
    "stop", "STOP", "Stop", "sToP", "ＳＴＯＰ", "Stóp", "stopall", "STOPALL", "unsubscribe",
    "UNSUBSCRIBE", "cancel", "Cancel", "end", "END", "quit", "QUIT", "revoke", "Revoke",
    "optout", "OPTOUT", "opt out", "OPT OUT", "opt-out", "Opt‐Out", "ｏｐｔ　ｏｕｔ",
)  # fmt: skip
NEGATED = ("don't", "do not", "never", "can't", "won't", "Don’t", "DO NOT", "dont", "never ever",
           "don't ever", "cannot", "didn't please")  # fmt: skip
QUOTES = (('"', '"'), ("“", "”"), ("«", "»"), ("'", "'"), ("„", "“"), ("「", "」"))
SEPARATORS = (" ", ", ", "! ", "? ", "  ", "\n", " … ", ". ")

words = st.lists(st.sampled_from(SAFE), max_size=5)
separator = st.sampled_from(SEPARATORS)


def _join(draw: st.DrawFn, parts: list[str]) -> str:
    return "".join(
        part + (draw(separator) if i < len(parts) - 1 else "") for i, part in enumerate(parts)
    )


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@st.composite
def with_keyword(draw: st.DrawFn) -> str:
    return _join(draw, [*draw(words), draw(st.sampled_from(KEYWORD_FORMS)), *draw(words)])


@st.composite
def negated(draw: st.DrawFn) -> str:
    before, after = draw(words), draw(words)
    core = f"{draw(st.sampled_from(NEGATED))} {draw(st.sampled_from(KEYWORD_FORMS))}"
    return _join(draw, [*before, core, *after])


@st.composite
def quoted(draw: st.DrawFn) -> str:
    before = draw(st.lists(st.sampled_from(SAFE), min_size=1, max_size=5))
    opening, closing = draw(st.sampled_from(QUOTES))
    core = f"{opening}{draw(st.sampled_from(KEYWORD_FORMS))}{closing}"
    return _join(draw, [*before, core, *draw(words)])


# -- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Stop texting me", "STOP please"])
def test_the_issue_22_replies_opt_out(text: str) -> None:
    # Seen failing before: the whole message had to be the keyword.
    assert is_opt_out(text)


@pytest.mark.parametrize(
    "text",
    [
        "pls unsubscribe", "please stop calling me at work", "Stop.", "STOPALL", "ＳＴＯＰ",
        "Opt-Out", "OPT OUT!", "Cancel", "REVOKE", "quit", "End", '"STOP"', "“stop”",
        "No, don't. STOP", "not interested, stop", "stop stop stop", "Stop!!! Who is this?",
        "STOP " + "x" * 200,
    ],
)  # fmt: skip
def test_opt_outs(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize(
    "text",
    [
        "don't stop", "Do NOT stop", "never stop", "Don’t ever stop!", "I can't stop laughing",
        'he said "stop"', "she told me “STOP” yesterday", "stopwatch", "STOPPED", "ending",
        "quitting", "non-stop", "the end", "at the end of the month", "I'll stop by later",
        "end of story", "yes", "1", "", "   ", "?!", "opt. out", "thanks " * 30 + "stop",
    ],
)  # fmt: skip
def test_not_opt_outs(text: str) -> None:
    assert not is_opt_out(text)


# -- properties -------------------------------------------------------------------------------


@given(with_keyword())
def test_a_standalone_keyword_in_a_short_reply_opts_out(text: str) -> None:
    assume(len(text.strip()) <= SHORT_REPLY)
    assert is_opt_out(text)


@given(negated())
def test_a_negated_keyword_does_not(text: str) -> None:
    assume(len(text.strip()) <= SHORT_REPLY)
    assert not is_opt_out(text)


@given(quoted())
def test_a_keyword_quoted_among_other_words_does_not(text: str) -> None:
    assume(len(text.strip()) <= SHORT_REPLY)
    assert not is_opt_out(text)


@given(st.lists(st.sampled_from(SAFE), max_size=12), st.sampled_from(SEPARATORS))
def test_words_without_a_keyword_do_not(parts: list[str], sep: str) -> None:
    assert not is_opt_out(sep.join(parts))


@given(st.text(max_size=200))
def test_a_text_holding_no_keyword_at_all_does_not(text: str) -> None:
    plain = normalise(text)
    assume(not any(k in plain for k in (*KEYWORDS, "opt")))
    assert not is_opt_out(text)


@given(
    st.from_regex(r"[a-z]{1,4}", fullmatch=True) | st.just(""),
    st.sampled_from(sorted(KEYWORDS)),
    st.from_regex(r"[a-z]{1,4}", fullmatch=True) | st.just(""),
)
def test_a_keyword_inside_another_word_does_not(prefix: str, keyword: str, suffix: str) -> None:
    word = prefix + keyword + suffix
    assume(prefix or suffix)
    assume(word not in KEYWORDS and not word.startswith("opt"))
    assert not is_opt_out(f"hi {word} there")


@given(with_keyword() | negated() | quoted() | st.text(max_size=80))
def test_case_and_width_do_not_matter(text: str) -> None:
    expected = is_opt_out(text)
    assert is_opt_out(text.upper()) == expected
    assert is_opt_out(text.lower()) == expected
    assert is_opt_out(_fullwidth(text)) == expected


@given(st.lists(st.sampled_from(SAFE), min_size=1, max_size=8), st.sampled_from(KEYWORD_FORMS))
def test_a_long_reply_opts_out_only_when_it_begins_with_a_keyword(
    parts: list[str], keyword: str
) -> None:
    padding = " ".join(parts * (SHORT_REPLY // len(" ".join(parts)) + 1))
    assert not is_opt_out(f"{padding} {keyword} {padding}")
    assert is_opt_out(f"{keyword} {padding}")
