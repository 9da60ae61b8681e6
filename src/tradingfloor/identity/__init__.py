"""Users, passwords, tokens, second factor and API keys: who is calling, and what may they do.

Three ways in, one result, a `Principal`:

* A person logs in with username and password (argon2id) and gets a `TokenPair`: a short-lived
  access token (JWT, HS256) and a long-lived opaque refresh token. With TOTP enrolled, the
  person then proves the second factor (`verify_totp`) and gets tokens whose `mfa` claim is
  true. Refresh tokens rotate on every use; presenting a used one again revokes every refresh
  token of that user, since one of the two holders must be a thief.
* A bot presents an API key: a key id and a secret shown once at creation. Keys count as
  second-factor verified: they are created by a person who passed the second factor where the
  gateway requires it, they are 256-bit random secrets no one types, and a bot has no phone.
  Each key carries its own scopes, at most those of its owner's role.
* Every request checks the principal with `Principal.require(scope=..., mfa=..., role=...)`.

The second factor is not optional: a password alone opens a session that can do nothing but
prove the second factor (`verify_totp`) or, for a user who has none yet, enrol one. Enrolment
needs a one-time token an admin issues (`issue_enrollment`: at account opening, or later when a
phone is lost, which also removes the old factor), delivered out of band; so a stolen password
alone can neither trade nor enrol the thief's phone. API keys are made by a session that proved
the second factor, or by a key with the `keys` scope, and never with more scopes than their
maker has.

Guessing is throttled per user: `login_failures_max` wrong passwords in a row, or as many wrong
second-factor codes, lock the user out for `lockout_s`, doubling with each further lockout up to
`lockout_max_s`; a whole sign-in (password and code) ends the doubling. A locked-out user is
refused before any password is checked, so guesses during a lockout cost nothing and count
nothing. (Per source address, `identity.lockout.SourceGuard` adds a second limit.) Every sign-in,
failure, lockout, key and second-factor change and admin action is written to `auth_events`.

A user whose trading account is blocked (the kill switch) or closed cannot sign in, refresh a
session or use an API key; a disabled user neither.

Costs: `login` runs argon2 once (tens of ms: run it off the event loop). `authenticate_token`
and `authenticate_api_key` sit on the order-entry path and never touch argon2: a JWT is an
HMAC check (and a dictionary hit for a token seen before); an API key secret is compared by
sha256 in constant time against a copy cached for `api_key_cache_ttl_s`. Plain sha256 is enough
for API key secrets: slow hashes protect guessable passwords, and a 256-bit random secret
cannot be guessed, so hashing only has to make a stolen database useless.

Access tokens are stateless: disabling a user stops new logins, refreshes and API keys at once,
stops the user's access tokens at once on this gateway, and on other gateways when those
tokens expire (`access_token_ttl_s`).
"""

from tradingfloor.identity.errors import AuthError, AuthErrorCode
from tradingfloor.identity.principal import ROLE_SCOPES, Principal, Role, Scope
from tradingfloor.identity.records import (
    ApiKeyCredentials,
    ApiKeyInfo,
    TokenPair,
    TotpEnrollment,
    User,
)
from tradingfloor.identity.service import AuthService

__all__ = [
    "ROLE_SCOPES",
    "ApiKeyCredentials",
    "ApiKeyInfo",
    "AuthError",
    "AuthErrorCode",
    "AuthService",
    "Principal",
    "Role",
    "Scope",
    "TokenPair",
    "TotpEnrollment",
    "User",
]
