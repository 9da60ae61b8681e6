"""The rules of sign-in as numbers and patterns: lengths, the TOTP step and drift, the token
and key formats."""

import re
from typing import Any

from tradingfloor.domain.ids import ACCOUNT_ID_LENGTH_MAX

NS_PER_S = 1_000_000_000
PASSWORD_LENGTH_MIN = 8
PASSWORD_LENGTH_MAX = 1024
"""argon2 takes any length; a cap keeps a megabyte "password" from being a cheap attack."""
TOTP_STEP_S = 30
TOTP_DRIFT_STEPS = 1
"""Codes of the step before and after the current one are accepted: phones' clocks drift."""
TOTP_ISSUER = "TradingFloor"
JWT_ALGORITHM = "HS256"
API_KEY_ID_PREFIX = "TF"
API_KEY_SECRET_LENGTH_MAX = 128
TOKEN_LENGTH_MAX = 4096

ACCOUNT_ID_RULE = f"1 to {ACCOUNT_ID_LENGTH_MAX} of A-Z a-z 0-9 _ . @ -, a letter or digit first"
ACCOUNT_STATUSES_LOCKED_OUT = frozenset({"blocked", "closed"})
"""Account statuses (as the read models write them) whose users may not sign in."""

USERNAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,63}")
TOTP_CODE = re.compile(r"[0-9]{6}")
API_KEY_ID_FORMAT = re.compile(API_KEY_ID_PREFIX + r"[A-Z2-7]{16}")
"""The prefix and the base32 of 10 random bytes: anything else is no key id, unqueried."""
JWT_OPTIONS: Any = {
    "require": ["sub", "exp", "iat", "jti"],
    # Time is checked against the injected clock below, not PyJWT's own.
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
}
