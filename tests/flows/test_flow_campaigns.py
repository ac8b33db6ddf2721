"""A campaign's `flow` setting names a flow of the config's flow files: checked when it is set,
over the real API (the daemon as a subprocess) and through the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import main
from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess

MENU = "menu:\n  start: hi\n  nodes:\n    hi: {goodbye: hello}\n"
SURVEY = "survey:\n  start: q\n  nodes:\n    q: {ask: q1, question: q1, on: {'1-5': bye}}\n" \
         "    bye: {hang_up: }\n"  # fmt: skip


def _flows(where: Path) -> None:
    (where / "flows").mkdir(parents=True, exist_ok=True)
    (where / "flows" / "menu.yaml").write_text(MENU)
    (where / "flows" / "survey.yaml").write_text(SURVEY)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp: Path = tmp_path_factory.mktemp("flows")
    _flows(tmp)
    daemon = DaemonProcess(tmp, extra_config="flows: flows/*.yaml\n")
    token = make_token(tmp / "state" / "dialbox.db", "crm", "crm")
    daemon.start()
    try:
        daemon.expect("READY")
        yield Api(f"http://127.0.0.1:{daemon.port}", token)
        assert "ERROR appliance.api" not in daemon.output(), daemon.output()[-4000:]
    finally:
        daemon.stop()


def test_a_campaign_is_created_with_a_flow_the_files_define(api: Api) -> None:
    reply = api.post("/campaigns", {"name": "ivr", "type": "automated",
                                    "settings": {"flow": "menu"}})  # fmt: skip
    assert reply.status == 201, reply
    assert reply.json()["settings"]["flow"] == "menu"


def test_an_unknown_flow_is_refused_with_the_flows_there_are(api: Api) -> None:
    reply = api.post("/campaigns", {"name": "typo", "type": "automated",
                                    "settings": {"flow": "mneu"}})  # fmt: skip
    assert reply.status == 422, reply
    assert reply.json()["detail"] == "no flow named 'mneu'; the flow files define: menu, survey"
    assert [e["where"] for e in reply.json()["errors"]] == ["settings.flow"]
    assert api.get("/campaigns/typo").status == 404  # nothing created


def test_changing_the_flow_is_checked_and_a_refusal_changes_nothing(api: Api) -> None:
    assert api.post("/campaigns", {"name": "poll", "type": "automated"}).status == 201
    reply = api.request("PATCH", "/campaigns/poll", {"settings": {"flow": "nope", "ratio": 2}})
    assert reply.status == 422 and "no flow named 'nope'" in reply.json()["detail"]
    settings = api.get("/campaigns/poll").json()["settings"]
    assert settings["flow"] is None and settings["ratio"] == 1.0
    reply = api.request("PATCH", "/campaigns/poll", {"settings": {"flow": "survey"}})
    assert reply.status == 200 and reply.json()["settings"]["flow"] == "survey"
    reply = api.request("PATCH", "/campaigns/poll", {"settings": {"ratio": 2}})
    assert reply.status == 200 and reply.json()["settings"]["flow"] == "survey"
    reply = api.request("PATCH", "/campaigns/poll", {"settings": {"flow": None}})
    assert reply.status == 200 and reply.json()["settings"]["flow"] is None


@pytest.mark.parametrize("bad", ["../etc", "a b", "x" * 65, 7])
def test_a_flow_name_that_can_name_no_flow_is_a_422(api: Api, bad: object) -> None:
    reply = api.post("/campaigns", {"name": "badname", "settings": {"flow": bad}})
    assert reply.status == 422, reply
    assert "settings.flow" in reply.json()["detail"]


def test_the_cli_checks_the_flow_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _flows(tmp_path)
    config = tmp_path / "dialbox.yaml"
    config.write_text("database: state/d.db\nflows: [flows/*.yaml]\n")
    argv = ["--config", str(config), "campaign"]
    assert main([*argv, "create", "s", "--type", "automated", "--set", "flow=survy"]) == 2
    assert "no flow named 'survy'; the flow files define: menu, survey" in capsys.readouterr().err
    assert main([*argv, "create", "s", "--type", "automated", "--set", "flow=survey"]) == 0
    assert main([*argv, "set", "s", "flow=menu2"]) == 2
    assert "no flow named 'menu2'" in capsys.readouterr().err
    assert main([*argv, "set", "s", "flow=menu", "--json"]) == 0
    assert '"flow": "menu"' in capsys.readouterr().out


def test_without_flow_files_every_flow_name_is_refused_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dialbox.yaml"
    config.write_text("database: state/d.db\n")
    code = main(["--config", str(config), "campaign", "create", "s", "--set", "flow=menu"])
    assert code == 2
    assert "the flow files define: none (list flow files under flows: in dialbox.yaml)" in (
        capsys.readouterr().err
    )
