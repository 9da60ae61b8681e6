"""`AuthService`: users, sessions, the second factor and API keys over one database."""

from tradingfloor.identity.api_keys import ApiKeys
from tradingfloor.identity.second_factor import SecondFactor
from tradingfloor.identity.sessions import Sessions
from tradingfloor.identity.users import Users


class AuthService(Users, Sessions, SecondFactor, ApiKeys):
    """Users, sessions and keys over one database; safe to share between threads.

    `clock` returns integer nanoseconds since the epoch; tests move it to expire tokens and
    to produce TOTP codes at a chosen time. `password_hasher` defaults to argon2id with the
    settings' parameters (`password_hash_*`: RFC 9106's low-memory ones unless told). Each
    part lives in its own module; they share the state and the guards of
    `identity.base.AuthBase`.
    """
