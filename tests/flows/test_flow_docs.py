"""docs/flows.md and the example flows stay true: every complete flow in them loads, and every
node kind and key the reader accepts is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.flows import load_flows
from appliance.flows.kinds import KEYS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "flows.md").read_text()
FULL_FLOWS = [b for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S) if "\n  start:" in b]


@pytest.mark.parametrize("index", range(len(FULL_FLOWS)))
def test_every_complete_flow_in_the_doc_loads(tmp_path: Path, index: int) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(FULL_FLOWS[index])
    assert load_flows([path])


def test_the_example_flows_load_and_the_doc_shows_the_menu() -> None:
    flows = load_flows(sorted((ROOT / "examples" / "flows").glob("*.yaml")))
    assert sorted(flows) == ["menu", "survey"]
    menu = (ROOT / "examples" / "flows" / "menu.yaml").read_text()
    assert menu.split("\n", 1)[1] == FULL_FLOWS[0]


def test_every_node_kind_and_key_is_documented() -> None:
    for kind, keys in KEYS.items():
        assert f"| `{kind}" in DOC, kind
        for key in keys:
            assert f"`{key}`" in DOC or f"`{key}:" in DOC, (kind, key)
