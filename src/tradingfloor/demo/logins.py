"""The demo's logins: known users with a second factor and an API key each, kept across restarts.

Each demo user is made as any user is (an admin-issued enrolment token, a TOTP secret enrolled
and confirmed with a code), so the demo shows the platform's sign-in policy rather than a way
around it. Their TOTP secrets and API keys are kept in `DATA/demo-logins.json` (mode 0600, like
the JWT secret) and reused at the next start; a key that no longer works (revoked, the user
disabled) is replaced, and the demo's old keys are revoked first, so restarts never pile keys up
to `api_keys_per_user_max`.
"""

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pyotp

from tradingfloor.identity import AuthError, AuthService, Role, Scope, User

LOGINS_FILE_NAME = "demo-logins.json"
KEY_LABEL = "demo"
TOTP_STEP_S = 30


@dataclass(frozen=True)
class DemoLogin:
    username: str
    account: str
    totp_secret: str
    key_id: str
    key_secret: str


def ensure_demo_logins(
    auth: AuthService,
    data_dir: Path,
    users: tuple[tuple[str, str, str], ...],
    password: str,
) -> list[DemoLogin]:
    """The (username, role, account) users, made if need be, each with a working second factor
    and API key; blocking (argon2, database): run it off the event loop."""
    path = data_dir / LOGINS_FILE_NAME
    saved = _read(path)
    logins = []
    for username, role, account in users:
        try:  # looked up first: making a user hashes its password (argon2), at every start
            user = auth.user_by_name(username)
        except AuthError:
            user = auth.create_user(username, password, role, account)
        before = saved.get(username)
        totp_secret = _second_factor(auth, user, before)
        key_id, key_secret = _api_key(auth, user, before)
        logins.append(DemoLogin(username, account, totp_secret, key_id, key_secret))
    _write(path, {login.username: asdict(login) for login in logins})
    return logins


def _second_factor(auth: AuthService, user: User, before: DemoLogin | None) -> str:
    """The user's TOTP secret: the saved one while it is enabled, else a new one enrolled."""
    if user.totp_enabled and before is not None:
        return before.totp_secret
    token, _ = auth.issue_enrollment(user.id)
    secret = auth.enroll_totp(user.id, token).secret
    # Confirmed with the previous step's code (within the allowed drift), so that the code an
    # authenticator shows right now still signs in: each code works once. The time is the
    # service's, read now: enrolment hashes (argon2) and may outlast a step.
    now_s = auth.now_ns() // 1_000_000_000
    auth.confirm_totp(user.id, pyotp.TOTP(secret).at(now_s - TOTP_STEP_S))
    return secret


def _api_key(auth: AuthService, user: User, before: DemoLogin | None) -> tuple[str, str]:
    """The saved key while it works; else the demo's old keys revoked and a new one made."""
    if before is not None:
        try:
            auth.authenticate_api_key(before.key_id, before.key_secret)
            return before.key_id, before.key_secret
        except AuthError:
            pass
    for key in auth.list_api_keys(user.id):
        if key.label == KEY_LABEL and not key.revoked:
            auth.revoke_api_key(key.key_id, user.id)
    scopes = [Scope.READ, Scope.TRADE, Scope.KEYS]
    if user.role == Role.ADMIN:
        scopes.append(Scope.ADMIN)
    created = auth.create_api_key(user.id, scopes, KEY_LABEL)
    return created.key_id, created.secret


def _read(path: Path) -> dict[str, DemoLogin]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {name: DemoLogin(**fields) for name, fields in entries.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # none yet, or unreadable: the logins are made anew


def _write(path: Path, entries: dict[str, dict[str, str]]) -> None:
    """Replace the file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=".demo-logins.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(entries, file, indent=2)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
