"""AT framing: lines, prompt, echo and garbage, in any chunking; fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.drivers.at.framing import (
    CommandFramer,
    FramingError,
    InputKind,
    Line,
    Prompt,
    ResponseFramer,
)


def lines(frames: list[Line | Prompt]) -> list[str]:
    return [f.text if isinstance(f, Line) else "<prompt>" for f in frames]


def feed_bytewise(framer: ResponseFramer, data: bytes) -> list[Line | Prompt]:
    out: list[Line | Prompt] = []
    for i in range(len(data)):
        out.extend(framer.feed(data[i : i + 1]))
    return out


def test_line_ends_echo_and_simcom_double_cr() -> None:
    framer = ResponseFramer()
    stream = b"AT+CSQ\r\r\n+CSQ: 19,99\r\n\r\nOK\r\n\r\r\nVOICE CALL: BEGIN\r\r\n"
    assert lines(feed_bytewise(framer, stream)) == [
        "AT+CSQ",
        "+CSQ: 19,99",
        "OK",
        "VOICE CALL: BEGIN",
    ]


def test_v0_numeric_result_with_bare_cr_is_framed_at_once() -> None:
    framer = ResponseFramer()
    assert lines(framer.feed(b"0\r")) == ["0"]


def test_leading_nul_bytes_are_dropped() -> None:
    assert lines(ResponseFramer().feed(b"\x00\x00\r\nOK\r\n")) == ["OK"]


def test_prompt_only_when_expected() -> None:
    framer = ResponseFramer()
    framer.expect_prompt = True
    assert lines(feed_bytewise(framer, b"\r\n> ")) == ["<prompt>"]
    framer = ResponseFramer()
    assert lines(framer.feed(b"> quoted reply\r\n")) == ["> quoted reply"]


def test_overlong_line_raises_own_error_keeps_good_frames_and_resyncs() -> None:
    framer = ResponseFramer(max_line=16)
    with pytest.raises(FramingError) as info:
        framer.feed(b"OK\r\n" + b"x" * 40)
    assert lines(info.value.frames) == ["OK"]
    # the rest of the garbage line is discarded up to its line end, then framing resumes
    assert lines(framer.feed(b"yyyy\r\n+CSQ: 1,2\r\n")) == ["+CSQ: 1,2"]


@given(st.binary(max_size=600), st.booleans())
def test_fuzz_random_bytes_raise_only_framing_error(data: bytes, prompt: bool) -> None:
    framer = ResponseFramer(max_line=64)
    framer.expect_prompt = prompt
    try:
        frames = framer.feed(data)
    except FramingError as exc:
        frames = exc.frames
    for frame in frames:
        assert isinstance(frame, Line | Prompt)
        if isinstance(frame, Line):
            assert frame.text and "\r" not in frame.text and "\n" not in frame.text


@given(st.binary(max_size=300), st.lists(st.integers(1, 20), max_size=40))
def test_fuzz_chunking_does_not_change_frames(data: bytes, cuts: list[int]) -> None:
    whole = ResponseFramer()
    expected = whole.feed(data)
    chunked = ResponseFramer()
    got: list[Line | Prompt] = []
    i = 0
    for n in [*cuts, len(data)]:
        got.extend(chunked.feed(data[i : i + n]))
        i += n
    assert got == expected


@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]),
            min_size=1,
            max_size=30,
        ).filter(lambda t: t.strip() == t and t),
        max_size=10,
    ),
    st.sampled_from([b"\r\n", b"\r\r\n", b"\r", b"\n"]),
)
def test_fuzz_lines_round_trip(texts: list[str], ending: bytes) -> None:
    data = b"".join(t.encode() + ending for t in texts)
    assert lines(ResponseFramer(max_line=1000).feed(data)) == texts


def test_command_framer_lines_repeat_and_backspace() -> None:
    framer = CommandFramer()
    got = framer.feed(b"ATE1\rat+cmee=2;+creg=2\r\nA/AT+CSX\x08Q\r")
    assert [(i.kind, i.text) for i in got] == [
        (InputKind.COMMAND, "ATE1"),
        (InputKind.COMMAND, "at+cmee=2;+creg=2"),
        (InputKind.REPEAT, "A/"),
        (InputKind.COMMAND, "AT+CSQ"),
    ]


def test_command_framer_prompt_body_ctrl_z_and_esc() -> None:
    framer = CommandFramer()
    framer.in_prompt = True
    assert [(i.kind, i.text) for i in framer.feed(b"hello\rworld\x1a")] == [
        (InputKind.BODY, "hello\rworld")
    ]
    framer.in_prompt = True
    assert [(i.kind, i.text) for i in framer.feed(b"nope\x1bAT\r")] == [
        (InputKind.CANCEL, "nope"),
        (InputKind.COMMAND, "AT"),
    ]


@given(st.binary(max_size=400), st.booleans())
def test_fuzz_command_framer_never_raises(data: bytes, prompt: bool) -> None:
    framer = CommandFramer(max_line=50)
    framer.in_prompt = prompt
    for item in framer.feed(data):
        assert item.kind in InputKind
