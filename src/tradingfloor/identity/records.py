"""What the identity service hands out: users, token pairs, enrolments, API keys."""

from dataclasses import dataclass
from typing import NamedTuple

from tradingfloor.identity.principal import Principal, Role, Scope


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    account_id: str
    totp_enabled: bool
    created_ts: int
    disabled: bool


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_ts: int
    refresh_expires_ts: int
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    secret: str
    """Base32, for typing into an authenticator by hand."""
    provisioning_uri: str
    """An otpauth:// URI, for a QR code."""


class ApiKeyCredentials(NamedTuple):
    """A new key: the secret exists only here, the database keeps its hash."""

    key_id: str
    secret: str


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    user_id: int
    scopes: frozenset[Scope]
    label: str
    created_ts: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class CachedApiKey:
    """A gateway's verified copy of an API key, trusted until `expires_ns`."""

    secret_digest: bytes
    principal: Principal
    expires_ns: int
    """When this copy must be read again from the database."""
