"""Roles, scopes and the authenticated caller of a request."""

from dataclasses import dataclass
from enum import StrEnum

from tradingfloor.identity.errors import AuthError, AuthErrorCode


class Role(StrEnum):
    TRADER = "trader"
    ADMIN = "admin"


class Scope(StrEnum):
    READ = "read"
    TRADE = "trade"
    ADMIN = "admin"
    KEYS = "keys"
    """Create, list and revoke the user's API keys (never with more scopes than one's own)."""


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.TRADER: frozenset({Scope.READ, Scope.TRADE, Scope.KEYS}),
    Role.ADMIN: frozenset({Scope.READ, Scope.TRADE, Scope.ADMIN, Scope.KEYS}),
}
"""What a person's tokens may do, and the most an API key of that person may carry."""

ROLE_RANK = {Role.TRADER: 0, Role.ADMIN: 1}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    account_id: str
    role: Role
    scopes: frozenset[Scope]
    mfa: bool
    """True when the second factor was proved (always true for an API key)."""
    api_key_id: str | None = None
    """The key used, or None for an access token."""

    def require(
        self, scope: Scope | None = None, mfa: bool = True, role: Role | None = None
    ) -> None:
        """Raise `AuthError` unless the caller has `scope`, the second factor if `mfa`, and
        `role` or a higher one (an admin may do what a trader may)."""
        if role is not None and ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise AuthError(AuthErrorCode.FORBIDDEN, f"role {role.value} required")
        if scope is not None and scope not in self.scopes:
            raise AuthError(AuthErrorCode.FORBIDDEN, f"scope {scope.value} required")
        if mfa and not self.mfa:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_REQUIRED)
