"""Call flows (IVR): defined in YAML files, validated with file:line errors, run on a call.
Pure: stdlib, yaml through appliance.config.safeyaml, appliance.errors and appliance.names;
never the drivers, engine, store or API (docs/flows.md)."""

from appliance.flows.load import load_flows
from appliance.flows.model import Flow, Flows
from appliance.flows.run import (
    ENDS,
    MAX_STEPS,
    CallerGone,
    FlowActions,
    FlowCall,
    FlowResult,
    Step,
    run_flow,
)

__all__ = [
    "ENDS",
    "MAX_STEPS",
    "CallerGone",
    "Flow",
    "FlowActions",
    "FlowCall",
    "FlowResult",
    "Flows",
    "Step",
    "load_flows",
    "run_flow",
]
