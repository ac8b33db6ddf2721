"""docs/openapi.json is the document the daemon serves (regenerate with
`python -m appliance.api.server > docs/openapi.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.api.server import openapi_document


def test_docs_copy_of_the_openapi_document_is_current() -> None:
    copy = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    assert copy == json.loads(json.dumps(openapi_document())), (
        "docs/openapi.json is stale: python -m appliance.api.server > docs/openapi.json"
    )
