"""One pydantic model per section of the config file: Config, RoomConfig, ClientConfig."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from ..room.settings import ROOM_NAME, Between, RoomSettings, worded
from . import rules
from .kek import key_encryption_key
from .rules import (
    CookieName,
    CookiePath,
    HexColor,
    HttpUrl,
    Issuer,
    Network,
    Origin,
    PathString,
    PathValue,
    SecureUrl,
    Text,
)

CLIENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$"
SigningAlg = Annotated[Literal["RS256", "ES256"], worded("must be RS256 or ES256")]


@dataclass(frozen=True)
class Source:
    """What validation needs besides the values, passed as pydantic's context.

    `base` is the folder relative paths start from (the config file's),
    `env` holds the clients' `secret_env` variables, and `rooms` the room
    names the file declares (None: not checked), so a client naming a room
    is checked even while that room's own table has problems.
    """

    base: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=dict)
    rooms: frozenset[str] | None = None


def _source(info: ValidationInfo) -> Source:
    return info.context if isinstance(info.context, Source) else Source()


def _secret_in(variable: str, info: ValidationInfo) -> str:
    """A secret from the environment: set, and at least 16 characters."""
    value = _source(info).env.get(variable)
    if not value:
        raise rules.problem(f"environment variable {variable} is not set")
    if len(value) < 16:
        raise rules.problem(f"{variable} must hold at least 16 characters")
    return value


class Table(BaseModel):
    """A TOML table: unknown keys are mistakes, and a missing required key is
    checked as an empty value so its field's own rule words the problem."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _missing_is_empty(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        required = {name: None for name, info in cls.model_fields.items() if info.is_required()}
        return {**required, **values}


class RoomConfig(RoomSettings):
    """A [rooms.NAME] table: the live settings plus the waiting page's branding."""

    title: Text = ""
    """The waiting page's heading (translations may override it per language)."""
    message: Text = ""
    """A line under the heading."""
    logo: PathString = ""
    """An image (png, jpg, gif, svg, webp or avif, at most 512 KB), relative to this file."""
    logo_alt: Text = ""
    """The logo's alt text; default: the title."""
    background_color: HexColor | None = None
    """Page background, e.g. "#ffffff"."""
    text_color: HexColor | None = Field(None, validate_default=True)
    """Text colour; needs 4.5:1 contrast with the background (WCAG 2.1 AA)."""
    brand_color: HexColor | None = Field(None, validate_default=True)
    """Number, progress bar, links and buttons; needs 4.5:1 contrast with the background."""
    template_dir: PathString = ""
    """Your own waiting.html / layout.html and static/ files, relative to this file."""
    return_origins: Annotated[tuple[Origin, ...], worded("must be a list of origins")] = ()
    """Sites /wait/NAME may send visitors back to (redirect integration), each exactly
    scheme://host[:port]; a return_to on any other origin gets an error page."""
    default_return_to: HttpUrl | None = None
    """Where /wait/NAME without return_to sends visitors (upstream mode); its origin
    must be one of return_origins."""
    handoff_cookie: CookieName = "wr_at"
    """The site's cookie /auth/handoff sets; the site's gate reads it (?cookie= of /auth/verify)."""
    handoff_cookie_path: CookiePath = "/"
    """Path of that cookie: every gated path of the site must be under it."""

    _name: str = PrivateAttr("")

    @property
    def name(self) -> str:
        """The table's key [rooms.NAME]: the room's identity, not one of its settings."""
        return self._name

    def named(self, name: str) -> RoomConfig:
        """A copy that knows its key: Config names each room once its table is valid."""
        room = self.model_copy()
        room._name = name
        return room

    @field_validator("text_color", "brand_color")
    @classmethod
    def _readable(cls, color: str | None, info: ValidationInfo) -> str | None:
        rules.readable(str(info.field_name), color, info.data.get("background_color"))
        return color

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str, info: ValidationInfo) -> str:
        return rules.logo_file(_source(info).base / value)

    @field_validator("template_dir")
    @classmethod
    def _template_dir(cls, value: str, info: ValidationInfo) -> str:
        return str(rules.folder(_source(info).base / value))

    @field_validator("default_return_to")
    @classmethod
    def _default_return_to(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Held to the rules a visitor's return_to meets, so upstream mode cannot be
        the one way around them."""
        origins = info.data.get("return_origins")
        if value is None or origins is None:
            return value  # return_origins has its own problem
        return rules.return_address(value, origins)


class ClientConfig(Table):
    """A [clients.ID] table: a relying party (an ALB, nginx, a web app) and its room."""

    secret_env: Annotated[str, worded("must name an environment variable")] | None = None
    """The environment variable holding the secret; wins over `secret`."""
    secret: Annotated[
        str, Field(min_length=16), worded("a secret of at least 16 characters is required")
    ] = Field(None, validate_default=True)
    """The client secret, at least 16 characters (or use `secret_env`)."""
    redirect_uris: Annotated[
        tuple[SecureUrl, ...],
        BeforeValidator(rules.not_empty),
        worded("a non-empty list of URLs is required"),
        Field(json_schema_extra={"minItems": 1}),
    ]
    """Exact callback URLs; https except for localhost."""
    room: str
    """The [rooms.NAME] this client's users wait in."""
    initiate_login_uri: HttpUrl = Field(None, validate_default=True)
    """Where a login older than login_timeout restarts; default: first redirect URI's origin."""
    login_timeout: Annotated[int, Between(5, 3600)] = 240
    """Seconds a waiting login stays resumable; keep it below the client's state timeout."""
    require_pkce: Annotated[bool, Field(strict=True), worded("must be true or false")] = False
    """Refuse authorization requests without a PKCE code challenge."""
    name: Annotated[str, worded("must be a string")] = ""
    """A display name; default: the client id."""
    id_token_signed_response_alg: SigningAlg = "RS256"  # noqa: S105 (an algorithm name)
    """Algorithm of this client's ID tokens (RS256, the OpenID default, or ES256)."""

    _client_id: str = PrivateAttr("")

    @property
    def client_id(self) -> str:
        """The table's key [clients.ID]."""
        return self._client_id

    def named(self, client_id: str) -> ClientConfig:
        """A copy that knows its key, which is also the display name unless one is set."""
        client = self.model_copy(update={"name": self.name or client_id})
        client._client_id = client_id
        return client

    @field_validator("secret_env")
    @classmethod
    def _variable_holds_a_secret(cls, variable: str | None, info: ValidationInfo) -> str | None:
        if variable is not None:
            _secret_in(variable, info)
        return variable

    @field_validator("secret", mode="wrap")
    @classmethod
    def _secret_or_variable(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> str | None:
        """secret_env wins; when it is unusable that is its problem, not also secret's."""
        if "secret_env" not in info.data:
            return None
        variable = info.data["secret_env"]
        return handler(value) if variable is None else _source(info).env[variable]

    @field_validator("room", mode="wrap")
    @classmethod
    def _configured_room(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> str:
        rooms = _source(info).rooms
        if not isinstance(value, str) or (rooms is not None and value not in rooms):
            raise rules.problem(f"must name a configured room, got {value!r}")
        return handler(value)

    @field_validator("initiate_login_uri", mode="wrap")
    @classmethod
    def _default_login_uri(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> str | None:
        if value is not None:
            return handler(value)
        uris = info.data.get("redirect_uris")
        if not uris:
            return None  # redirect_uris has its own problem
        parts = urlsplit(uris[0])
        return f"{parts.scheme}://{parts.netloc}/"


class AdminToken(Table):
    """An [admin_tokens] entry: one operator's bearer token for the admin API; the
    operator log names whoever used it."""

    env: Annotated[
        str,
        Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
        worded("must name an environment variable"),
    ]
    """The environment variable holding the token (at least 16 characters)."""

    _token: str = PrivateAttr("")

    @property
    def token(self) -> str:
        return self._token

    @field_validator("env")
    @classmethod
    def _holds_a_token(cls, variable: str, info: ValidationInfo) -> str:
        _secret_in(variable, info)
        return variable

    @model_validator(mode="after")
    def _keep_token(self, info: ValidationInfo) -> AdminToken:
        # Read from the environment, never from the file; kept out of every dump.
        self._token = _source(info).env[self.env]
        return self


#: HOST:PORT, the host a name, an IPv4 address or an [IPv6] address.
BIND_ADDRESS = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$"
AdminName = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$"), worded("names use a-z, 0-9, . _ - (max 63)")
]

RoomName = Annotated[
    str, Field(pattern=ROOM_NAME.pattern), worded("room names use a-z, 0-9, '-' and '_' (max 63)")
]
#: One server; a Sentinel-watched master (service name, optional db); a cluster's seed nodes.
REDIS_URL = (
    r"^(redis|rediss|unix)://"
    r"|^redis\+sentinel://([^@/]*@)?[^/@]+:\d+(,[^/@]+:\d+)*/[^/]+(/\d+)?$"
    r"|^redis\+cluster://([^@/]*@)?[^/@]+:\d+(,[^/@]+:\d+)*/?$"
)
ClientId = Annotated[
    str, Field(pattern=CLIENT_ID), worded("client ids use letters, digits and . _ ~ - (max 128)")
]


class Config(Table):
    """The whole file: service settings, then [rooms.NAME] and [clients.ID] tables."""

    issuer: Issuer = "http://localhost:8000"
    """Public URL of this service; equals the iss claim (https except for localhost)."""
    redis_url: (
        Annotated[
            str,
            Field(pattern=REDIS_URL),
            worded(
                "must be redis://, rediss:// or unix://..., "
                "redis+sentinel://host:port[,host:port...]/service_name[/db] "
                "or redis+cluster://host:port[,host:port...]"
            ),
        ]
        | None
    ) = None
    """Omit for the embedded Redis under data_dir; REDIS_URL wins. Sentinel and
    Cluster URLs list every sentinel or seed node, so one of them may be down."""
    redis_wait_replicas: Annotated[int, Between(0, 5)] = 0
    """Replicas that must hold a take or a claim (Redis WAIT) before the user is told
    it succeeded, else 503: replication is asynchronous, so a failover can lose the
    last acknowledged writes. Needs that many replicas alive besides the one a
    failover promotes; 0 (default) does not wait."""
    data_dir: PathValue = Path("var")
    """State of the embedded Redis, relative to the config file."""
    keys_dir: PathValue = Path("keys")
    """The signing key store, relative to the config file."""
    keys_backend: Annotated[Literal["file", "redis"], worded("must be file or redis")] = "file"
    """Where signing keys live: "file" (keys_dir, shared by every host) or "redis"
    (the app's Redis, private keys encrypted under OIDC_ADAPTER_KEY_ENCRYPTION_KEY),
    so several hosts share keys without a shared filesystem."""
    admin_token: (
        Annotated[str, Field(min_length=16), worded("must be a string of at least 16 characters")]
        | None
    ) = None
    """Bearer token of the admin API (`serve` needs it or admin_tokens); its actions are
    logged as "admin"; OIDC_ADAPTER_ADMIN_TOKEN wins."""
    admin_tokens: Annotated[
        dict[AdminName, Annotated[AdminToken, worded("must be a table")]],
        worded('must be a table of NAME = { env = "VARIABLE" } entries'),
    ] = Field(default_factory=dict)
    """Named admin API tokens, each read from an environment variable
    (`alice = { env = "ALICE_ADMIN_TOKEN" }`); the operator log shows the name."""
    metrics_token: (
        Annotated[str, Field(min_length=16), worded("must be a string of at least 16 characters")]
        | None
    ) = None
    """Bearer token /metrics requires (none: /metrics is public);
    OIDC_ADAPTER_METRICS_TOKEN wins."""
    metrics_bind: (
        Annotated[
            str,
            Field(pattern=BIND_ADDRESS),
            worded("must be HOST:PORT, e.g. 127.0.0.1:9108"),
        ]
        | None
    ) = None
    """Serve /metrics only on this internal HOST:PORT (by the `serve` master process), not
    on the public bind; none: /metrics is on the public bind."""
    log_format: Annotated[Literal["text", "json"], worded("must be text or json")] = "text"
    """"json": one JSON line per request and per operator action on stdout; "text": only
    gunicorn's access log, and operator actions as text lines."""
    secret_key: (
        Annotated[str, Field(min_length=32), worded("must be a string of at least 32 characters")]
        | None
    ) = None
    """Signs ticket cookies (else kept in Redis); OIDC_ADAPTER_SECRET_KEY wins."""
    signing_alg: SigningAlg = "RS256"
    """Algorithm of access tokens; ID tokens use each client's id_token_signed_response_alg."""
    room_state_max_age: Annotated[int, Between(0, 60)] = 2
    """Seconds browsers and proxies may cache the public room state."""
    translations_dir: PathValue | None = None
    """A folder of <locale>.json files merged over the built-in texts."""
    cors_origins: Annotated[tuple[Origin, ...], worded("must be a list of origins")] = ()
    """Web origins allowed to call the room JSON API from a browser."""
    trusted_proxies: Annotated[
        tuple[Network, ...],
        BeforeValidator(rules.comma_list),
        worded("must be a list of IP networks in CIDR form"),
    ] = Field(default_factory=lambda: tuple(ip_network(n) for n in rules.LOOPBACK))
    """Proxies whose X-Forwarded-Proto, -Host and -For count (CIDRs; behind an ALB,
    the VPC's CIDR); OIDC_ADAPTER_TRUSTED_PROXIES (comma-separated) wins."""
    hsts_max_age: Annotated[int, Between(0, 2 * 365 * 86400)] = 365 * 86400
    """Strict-Transport-Security max-age sent with an https issuer; 0 sends none."""
    verify_any_room: Annotated[bool, Field(strict=True), worded("must be true or false")] = True
    """Whether /auth/verify without ?room= accepts a token of any room (true) or
    refuses the request (false: every gate must name its room)."""
    rooms: Annotated[
        dict[RoomName, Annotated[RoomConfig, worded("must be a table")]],
        Field(min_length=1),
        worded("at least one [rooms.NAME] table is required"),
    ]
    """The waiting rooms, by name."""
    clients: Annotated[
        dict[ClientId, Annotated[ClientConfig, worded("must be a table")]],
        worded("must be a table of [clients.ID] tables"),
    ] = Field(default_factory=dict)
    """The relying parties, by client id."""

    _key_encryption_key: bytes | None = PrivateAttr(None)

    @property
    def key_encryption_key(self) -> bytes | None:
        """The Redis key store's KEK (from the environment, never from the file)."""
        return self._key_encryption_key

    @field_validator("keys_backend")
    @classmethod
    def _backend_has_its_key(cls, backend: str, info: ValidationInfo) -> str:
        if backend == "redis":
            try:
                key_encryption_key(_source(info).env)
            except ValueError as exc:
                raise rules.problem(str(exc)) from None
        return backend

    @model_validator(mode="after")
    def _keep_key_encryption_key(self, info: ValidationInfo) -> Config:
        # Checked by _backend_has_its_key; kept out of the fields so no dump shows it.
        if self.keys_backend == "redis":
            self._key_encryption_key = key_encryption_key(_source(info).env)
        return self

    @field_validator("metrics_bind")
    @classmethod
    def _port_in_range(cls, bind: str | None) -> str | None:
        if bind is not None and int(bind.rpartition(":")[2]) > 65535:
            raise rules.problem("the port must be from 1 to 65535")
        return bind

    @field_validator("admin_tokens")
    @classmethod
    def _one_name_per_token(
        cls, named: dict[str, AdminToken], info: ValidationInfo
    ) -> dict[str, AdminToken]:
        """Each token names one operator: a name or a token used twice makes the log lie."""
        single = info.data.get("admin_token")
        if single and "admin" in named:
            raise rules.problem("'admin' is the name of admin_token; choose another")
        tokens = [entry.token for entry in named.values()] + ([single] if single else [])
        if len(set(tokens)) != len(tokens):
            raise rules.problem("two names share one token")
        return named

    @property
    def admin_credentials(self) -> dict[str, str]:
        """Every admin API token by the name its actions are logged under."""
        named = {name: entry.token for name, entry in self.admin_tokens.items()}
        return {"admin": self.admin_token, **named} if self.admin_token else named

    @property
    def insecure_localhost(self) -> bool:
        """http://localhost issuers are for development; cookies drop Secure."""
        parts = urlsplit(self.issuer)
        return parts.scheme == "http" and parts.hostname in rules.LOCAL_HOSTS

    @field_validator("translations_dir")
    @classmethod
    def _translations(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else rules.translations(_source(info).base / value)

    @field_validator("rooms")
    @classmethod
    def _name_rooms(cls, rooms: dict[str, RoomConfig]) -> dict[str, RoomConfig]:
        return {name: room.named(name) for name, room in rooms.items()}

    @field_validator("clients")
    @classmethod
    def _name_clients(cls, clients: dict[str, ClientConfig]) -> dict[str, ClientConfig]:
        return {client_id: client.named(client_id) for client_id, client in clients.items()}
