"""Live room settings: what an operator may change while a room runs.

The config file's rooms extend this model (`config.RoomConfig`), and
`oidc-adapter room set` and the admin API validate through it too, so a value
accepted in one place is accepted in all of them. The small validation
vocabulary the config package shares (`Between`, `worded`, `problem_of`) lives
here as well, because the queue engine must not import the config package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema

ROOM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
Mode = Literal["auto", "queue_all", "paused", "closed", "passthrough"]
MODES: tuple[str, ...] = get_args(Mode)
JoinCost = Literal["none", "pow"]
CaptchaProvider = Literal["none", "turnstile", "hcaptcha"]
#: The name of an environment variable, never a secret itself ("" = none).
ENV_NAME = r"^([A-Za-z_][A-Za-z0-9_]{0,127})?$"
UNKNOWN = "unknown setting"


def worded(message: str) -> WrapValidator:
    """One sentence an operator can act on instead of pydantic's per-constraint wording.

    Only problems of the value itself are reworded: those inside it (a list
    item, a table's field) keep their own path and words.
    """

    def reword(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if any(error["loc"] for error in exc.errors()):
                raise
            raise PydanticCustomError("invalid", message) from None

    return WrapValidator(reword)


@dataclass(frozen=True)
class Between:
    """A strict int from lo to hi: a bool or a numeric string is a mistake, not a number.

    Published as minimum/maximum in the JSON Schema; the message says which
    range even when the value is not a number at all.
    """

    lo: int
    hi: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        inner = core_schema.int_schema(ge=self.lo, le=self.hi, strict=True)
        return core_schema.no_info_wrap_validator_function(self._check, inner)

    def _check(self, value: Any, handler: ValidatorFunctionWrapHandler) -> int:
        try:
            return handler(value)
        except ValidationError:
            bounds = {"lo": self.lo, "hi": self.hi}
            if type(value) is int:
                raise PydanticCustomError(
                    "int_range",
                    "must be between {lo} and {hi}, got {value}",
                    {**bounds, "value": value},
                ) from None
            raise PydanticCustomError(
                "int_type", "must be an integer between {lo} and {hi}", bounds
            ) from None


#: The latest time a schedule may name: the rooms store seconds as u32.
LAST_EPOCH = 2**32 - 1


def _epoch_seconds(value: Any) -> Any:
    """A TOML date-time or an ISO-8601 text as Unix seconds; anything else as given.

    Stored as seconds either way, so Redis and the scripts see one form. A
    time without a zone would mean the server's zone, which nobody can see
    from the config: it is refused.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "epoch", "must be Unix seconds or an ISO-8601 time with a zone"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PydanticCustomError("epoch", "must name its zone, e.g. 2026-12-01T09:00:00Z")
        return int(value.timestamp())
    return value


#: Unix seconds, 0 = not set; also accepts an ISO-8601 time with a zone.
EpochSeconds = Annotated[
    int,
    Between(0, LAST_EPOCH),
    BeforeValidator(_epoch_seconds, json_schema_input_type=int | str),
]


class RoomSettings(BaseModel):
    """A room's live settings, as the engine publishes them to Redis."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    admit_per_minute: Annotated[int, Between(0, 1_000_000)] = 600
    """Admission rate (token bucket); 0 admits only by operator (`room admit`)."""
    max_active: Annotated[int, Between(0, 100_000_000)] = 0
    """Admitted sessions alive at once; 0 means no cap."""
    session_seconds: Annotated[int, Between(60, 7 * 86400)] = 1800
    """An admitted session's life, which is also the tokens' expiry."""
    waiting_grace_seconds: Annotated[int, Between(15, 86400)] = 120
    """A waiting ticket without a heartbeat this long is abandoned."""
    claim_seconds: Annotated[int, Between(15, 86400)] = 120
    """A served ticket that does not log in this long gives its slot back."""
    mode: Annotated[Mode, worded(f"must be one of {', '.join(MODES)}")] = "auto"
    """auto, queue_all (strictly at the rate), paused, closed (no new tickets), passthrough."""
    join_cost: Annotated[JoinCost, worded("must be none or pow")] = "none"
    """pow: a new visitor solves a proof-of-work challenge before its ticket is taken."""
    pow_bits: Annotated[int, Between(0, 28)] = 16
    """Proof-of-work difficulty: leading zero bits of SHA-256(challenge || counter)."""
    captcha_provider: Annotated[CaptchaProvider, worded("must be none, turnstile or hcaptcha")] = (
        "none"
    )
    """turnstile or hcaptcha: a new ticket needs a CAPTCHA token the provider confirms."""
    captcha_secret_env: Annotated[
        str, Field(pattern=ENV_NAME), worded("must be the name of an environment variable")
    ] = ""
    """The environment variable that holds the CAPTCHA secret (the secret never enters config)."""
    tickets_per_ip_per_minute: Annotated[int, Between(0, 1_000_000)] = 0
    """New tickets per client address (IPv6: per /64) per minute; 0 means no limit."""
    opens_at: EpochSeconds = 0
    """A timed sale opens (Unix seconds or ISO-8601): the pre-queue is shuffled; 0 = none."""
    prequeue_seconds: Annotated[int, Between(0, 7 * 86400)] = 900
    """How long before opens_at visitors may join the pre-queue; earlier the room is closed."""
    closes_at: EpochSeconds = 0
    """No new tickets from this time on (UTC; Unix seconds or ISO-8601); 0 = never."""

    def as_settings(self) -> dict[str, Any]:
        """The live part only: branding in a subclass never reaches Redis."""
        return {key: getattr(self, key) for key in LIVE_SETTINGS}


#: name -> (minimum, maximum, default), read off the model so they cannot drift.
LIMITS: dict[str, tuple[int, int, int]] = {
    name: (rule.lo, rule.hi, field.default)
    for name, field in RoomSettings.model_fields.items()
    for rule in field.metadata
    if isinstance(rule, Between)
}
LIVE_SETTINGS: tuple[str, ...] = tuple(RoomSettings.model_fields)


def problem_of(error: ErrorDetails) -> tuple[str, str]:
    """A pydantic error as (dotted field path, message), e.g. `clients.alb.redirect_uris[0]`."""
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":  # a bad table name is reported at the table's own path
            path += f".{part}" if path else part
    return path, UNKNOWN if error["type"] == "extra_forbidden" else error["msg"]


def parse_setting_changes(values: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Live changes from an operator; a None value drops that setting's override.

    Returns the changes and the problems, each naming its setting; the changes
    are only meant to be applied when there is no problem.
    """
    clears = {key: None for key, value in values.items() if value is None}
    problems = [(key, UNKNOWN) for key in clears if key not in LIVE_SETTINGS]
    given = {key: value for key, value in values.items() if value is not None}
    try:
        checked = RoomSettings.model_validate(given)
    except ValidationError as exc:
        return clears, problems + [problem_of(error) for error in exc.errors()]
    return {**{key: getattr(checked, key) for key in given}, **clears}, problems
