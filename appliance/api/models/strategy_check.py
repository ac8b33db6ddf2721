"""The answer of `POST /campaigns/{name}/strategy/check`: whether a strategy would be taken,
what is wrong with it (each problem where it is), and every outcome's action in force."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from appliance.api.models import Document


class StrategyProblem(Document):
    where: str = Field(
        description="the key path inside the strategy, e.g. on.Busy or attempts[0].phone; "
        "empty for the strategy as a whole"
    )
    message: str


class OutcomeRow(Document):
    outcome: str = Field(description="the outcome's label, e.g. Busy")
    code: int = Field(description="the outcome code (SPEC C11)")
    action: str = Field(examples=["retry 2h", "close Connected"])
    source: Annotated[
        Literal["named", "default", "built-in"],
        Field(description="named by the strategy, its `default`, or the built-in table"),
    ]
    terminal: bool = Field(
        description="a `default` does not cover it; naming it with another action warns"
    )


class StrategyCheck(Document):
    valid: bool
    errors: list[StrategyProblem] = Field(description="empty when valid")
    warnings: list[str] = Field(description="as PUT would give them (strategy_warnings)")
    table: list[OutcomeRow] | None = Field(
        None, description="every outcome's action in force; null when not valid"
    )
