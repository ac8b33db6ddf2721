"""The one name rule (#18): hostile names refused with the rule and the reason, reserved words,
the lookup pattern that still finds older names, and the path join that never leaves its base."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from appliance import names
from appliance.errors import DialboxError

HOSTILE = [
    "",
    ".",
    "..",
    "../x",
    "a/../../b",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "%2e%2e",
    "spring\n",
    "spr\ning",
    "spring\x00",
    "\u202espring",
    "spr ing",
    " spring",
    "-rf",
    ".hidden",
    "_x",
    "café",
    "x" * 65,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(DialboxError) as err:
        names.check_name("campaign", name)
    assert str(err.value) == f"campaign name {name!r} is not allowed: {names.RULE}"
    assert isinstance(err.value, ValueError)  # a config model reports it at its key


@pytest.mark.parametrize("name", ["archive", "ARCHIVE", "failed", "Failed"])
def test_the_hot_folders_own_directories_are_reserved(name: str) -> None:
    with pytest.raises(DialboxError, match=rf"^'{name}' is reserved: the hot folder uses it"):
        names.check_name("campaign", name)


@pytest.mark.parametrize("name", ["spring.part", "x.TMP"])
def test_names_the_hot_folder_would_ignore_are_refused(name: str) -> None:
    with pytest.raises(DialboxError, match="the hot folder ignores"):
        names.check_name("campaign", name)


@pytest.mark.parametrize("name", ["spring", "Spring-2026", "a", "gsm0", "x.y_z-1", "9" * 64])
def test_ordinary_names_pass(name: str) -> None:
    assert names.check_name("campaign", name) == name
    assert re.fullmatch(names.PATTERN.strip("^$"), name)


def test_the_hot_folder_uses_the_reserved_names() -> None:
    from appliance.importing import hotfolder

    assert {hotfolder.ARCHIVE, hotfolder.FAILED} <= set(names.RESERVED)
    assert hotfolder._IGNORED_SUFFIXES == names.IGNORED_SUFFIXES


@pytest.mark.parametrize("name", ["My Campaign", "archive", "café", "@sales", "\u202eevil", "-x"])
def test_lookups_still_find_names_from_before_the_rule(name: str) -> None:
    assert names.addressable(name)
    assert re.search(names.LOOKUP_PATTERN, name)


@pytest.mark.parametrize("name", [".", "..", "a/b", "a\\b", "x\n", "x\x00", "", "y" * 65])
def test_lookups_never_take_path_segments_or_controls(name: str) -> None:
    assert not names.addressable(name)


TRAVERSALS = ["../x", "..", ".", "a/../../b", "/etc", "/", "", "a/b", "x\x00"]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_safe_join_refuses_every_way_out(tmp_path: Path, name: str) -> None:
    base = tmp_path / "hot" / "archive"
    base.mkdir(parents=True)
    with pytest.raises(DialboxError):
        names.safe_join(base, name)


def test_safe_join_refuses_a_symlink_that_leads_out(tmp_path: Path) -> None:
    base = tmp_path / "hot"
    outside = tmp_path / "elsewhere"
    base.mkdir()
    outside.mkdir()
    os.symlink(outside, base / "spring")
    os.symlink(base, base / "loop")
    with pytest.raises(DialboxError, match="leads out of"):
        names.safe_join(base, "spring")
    with pytest.raises(DialboxError, match="leads out of"):
        names.safe_join(base, "loop")


def test_safe_join_joins_ordinary_names(tmp_path: Path) -> None:
    base = tmp_path / "hot"
    base.mkdir()
    assert names.safe_join(base, "spring") == base / "spring"  # need not exist yet
    (base / "b").mkdir()
    os.symlink(base / "b", base / "a")  # a link to a sibling stays inside
    assert names.safe_join(base, "a") == base / "a"


def test_schemas_carry_the_patterns() -> None:
    assert names.schema("campaign")["pattern"] == names.PATTERN
    assert names.lookup_schema("campaign")["pattern"] == names.LOOKUP_PATTERN
    assert names.RULE in names.schema("agent")["description"]
