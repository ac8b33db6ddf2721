"""The one API registry every route module declares its operations on."""

from __future__ import annotations

from appliance import __version__
from appliance.api.spec import Api

API = Api("dialbox API", __version__)
