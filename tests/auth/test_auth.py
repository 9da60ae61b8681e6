"""AuthService against SQLite and a real PostgreSQL: passwords, tokens, TOTP, API keys, roles."""

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from auth_helpers import (  # noqa: F401 (fixtures by name)
    FAST_HASHER,
    PASSWORD,
    SECRET,
    START_NS,
    FakeClock,
    auth_fixture,
    clock_fixture,
    code_of,
    enable_totp,
    engine_fixture,
    enroll,
    postgres_url_fixture,
    settings_fixture,
)
from sqlalchemy import Engine, select, text

from tradingfloor.config import Settings, load_settings
from tradingfloor.identity import (
    AuthError,
    AuthErrorCode,
    AuthService,
    Principal,
    Role,
    Scope,
    TokenPair,
)
from tradingfloor.store import refresh_tokens, users


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


# --------------------------------------------------------------------------- users and login


def test_login_gives_a_token_for_the_users_account(auth: AuthService) -> None:
    user = auth.create_user("Alice", PASSWORD, account_id="ACC-1")

    tokens = auth.login("alice", PASSWORD)
    principal = auth.authenticate_token(tokens.access_token)

    assert user.username == "alice"
    assert principal == Principal(
        user_id=user.id,
        account_id="ACC-1",
        role=Role.TRADER,
        scopes=frozenset({Scope.READ, Scope.TRADE, Scope.KEYS}),
        mfa=False,
    )
    assert tokens.token_type == "bearer"
    assert tokens.access_expires_ts == START_NS + 900 * 1_000_000_000


def test_account_defaults_to_the_username(auth: AuthService) -> None:
    user = auth.create_user("bob", PASSWORD)

    assert auth.get_user(user.id).account_id == "bob"


def test_wrong_password_and_unknown_user_are_the_same_refusal(auth: AuthService) -> None:
    auth.create_user("alice", PASSWORD)

    assert code_of(auth.login, "alice", PASSWORD + "!") is AuthErrorCode.INVALID_CREDENTIALS
    assert code_of(auth.login, "mallory", PASSWORD) is AuthErrorCode.INVALID_CREDENTIALS


def test_duplicate_username_is_refused_whatever_its_case(auth: AuthService) -> None:
    auth.create_user("alice", PASSWORD)

    assert code_of(auth.create_user, "ALICE", PASSWORD) is AuthErrorCode.USER_EXISTS


@pytest.mark.parametrize("password", ["", "1234567", "x" * 1025])
def test_weak_passwords_are_refused(auth: AuthService, password: str) -> None:
    assert code_of(auth.create_user, "alice", password) is AuthErrorCode.WEAK_PASSWORD


@pytest.mark.parametrize(
    ("username", "role", "account_id"),
    [("", "trader", None), ("a b", "trader", None), ("alice", "root", None), ("al", "admin", "")],
)
def test_malformed_user_fields_are_refused(
    auth: AuthService, username: str, role: str, account_id: str | None
) -> None:
    code = code_of(auth.create_user, username, PASSWORD, role, account_id)

    assert code is AuthErrorCode.INVALID_ARGUMENT


def test_passwords_are_stored_as_argon2id(
    engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    auth = AuthService(engine, settings, clock)  # the production hasher
    auth.create_user("alice", PASSWORD)

    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash)).scalar_one()

    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    auth.login("alice", PASSWORD)


def test_login_upgrades_a_hash_made_with_older_parameters(
    auth: AuthService, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    auth.create_user("alice", PASSWORD)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    upgraded = AuthService(engine, settings, clock, password_hasher=stronger)

    upgraded.login("alice", PASSWORD)

    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash)).scalar_one()
    assert not stronger.check_needs_rehash(stored)
    upgraded.login("alice", PASSWORD)


def test_hashes_take_the_settings_parameters_and_a_change_is_made_at_sign_in(
    engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    def stored() -> str:
        with engine.connect() as connection:
            return str(connection.execute(select(users.c.password_hash)).scalar_one())

    cheap = {"password_hash_time_cost": 1, "password_hash_memory_kib": 1_024}
    AuthService(engine, settings.model_copy(update=cheap), clock).create_user("alice", PASSWORD)
    assert "$m=1024,t=1,p=4$" in stored()  # the default parallelism

    stronger = {**cheap, "password_hash_memory_kib": 2_048, "password_hash_parallelism": 1}
    AuthService(engine, settings.model_copy(update=stronger), clock).login("alice", PASSWORD)
    assert "$m=2048,t=1,p=1$" in stored()


def test_disabled_user_is_locked_out(auth: AuthService) -> None:
    user = auth.create_user("alice", PASSWORD)
    tokens = auth.login("alice", PASSWORD)
    key = auth.create_api_key(user.id, ["read"])
    auth.authenticate_api_key(*key)

    auth.disable_user(user.id)

    assert code_of(auth.login, "alice", PASSWORD) is AuthErrorCode.USER_DISABLED
    assert code_of(auth.authenticate_token, tokens.access_token) is AuthErrorCode.USER_DISABLED
    assert code_of(auth.refresh, tokens.refresh_token) is AuthErrorCode.TOKEN_INVALID
    assert code_of(auth.authenticate_api_key, *key) is AuthErrorCode.INVALID_CREDENTIALS


# --------------------------------------------------------------------------- access tokens


def test_access_token_expires_by_the_injected_clock(
    auth: AuthService, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    auth.create_user("alice", PASSWORD)
    token = auth.login("alice", PASSWORD).access_token
    auth.authenticate_token(token)  # now cached

    clock.advance(settings.access_token_ttl_s - 1)
    auth.authenticate_token(token)
    clock.advance(1)

    fresh = AuthService(engine, settings, clock, password_hasher=FAST_HASHER)  # nothing cached
    assert code_of(auth.authenticate_token, token) is AuthErrorCode.TOKEN_EXPIRED
    assert code_of(fresh.authenticate_token, token) is AuthErrorCode.TOKEN_EXPIRED


def tampered_tokens(token: str, secret: str) -> dict[str, str]:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    # A character in the middle of the signature: the last one also holds padding bits.
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    promoted = b64_json({**claims, "role": "admin", "scopes": ["admin", "read", "trade"]})
    no_jti = {key: value for key, value in claims.items() if key != "jti"}
    return {
        "signature-flipped": f"{header}.{payload}.{flipped}",
        "payload-changed": f"{header}.{promoted}.{signature}",
        "alg-none": f"{b64_json({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg-hs512": jwt.encode(claims, secret, algorithm="HS512"),
        "other-secret": jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256"),
        "missing-jti": jwt.encode(no_jti, secret, algorithm="HS256"),
        "sub-not-a-number": jwt.encode({**claims, "sub": "alice"}, secret, algorithm="HS256"),
        "not-a-jwt": "not.a.jwt",
        "empty": "",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "signature-flipped",
        "payload-changed",
        "alg-none",
        "alg-hs512",
        "other-secret",
        "missing-jti",
        "sub-not-a-number",
        "not-a-jwt",
        "empty",
    ],
)
def test_tampered_token_is_invalid(auth: AuthService, kind: str) -> None:
    auth.create_user("alice", PASSWORD)
    token = auth.login("alice", PASSWORD).access_token
    auth.authenticate_token(token)  # the genuine token is cached; its variants must not hit

    forged = tampered_tokens(token, SECRET)[kind]

    assert code_of(auth.authenticate_token, forged) is AuthErrorCode.TOKEN_INVALID


# --------------------------------------------------------------------------- refresh tokens


def live_refresh_tokens(engine: Engine) -> int:
    with engine.connect() as connection:
        rows = connection.execute(select(refresh_tokens.c.revoked)).scalars().all()
    return rows.count(False)


def test_refresh_rotates_the_token(auth: AuthService, clock: FakeClock) -> None:
    auth.create_user("alice", PASSWORD)
    first = auth.login("alice", PASSWORD)
    clock.advance(60)

    second = auth.refresh(first.refresh_token)

    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert auth.authenticate_token(second.access_token).mfa is False
    assert second.access_expires_ts == clock.now_ns + 900 * 1_000_000_000
    auth.refresh(second.refresh_token)


def test_reused_refresh_token_revokes_every_session(auth: AuthService, engine: Engine) -> None:
    auth.create_user("alice", PASSWORD)
    other_session = auth.login("alice", PASSWORD)
    stolen = auth.login("alice", PASSWORD)
    rotated = auth.refresh(stolen.refresh_token)

    reuse = code_of(auth.refresh, stolen.refresh_token)

    assert reuse is AuthErrorCode.REFRESH_TOKEN_REUSED
    assert live_refresh_tokens(engine) == 0
    assert code_of(auth.refresh, rotated.refresh_token) is AuthErrorCode.REFRESH_TOKEN_REUSED
    assert code_of(auth.refresh, other_session.refresh_token) is (
        AuthErrorCode.REFRESH_TOKEN_REUSED
    )


def test_refresh_token_expires(auth: AuthService, settings: Settings, clock: FakeClock) -> None:
    auth.create_user("alice", PASSWORD)
    tokens = auth.login("alice", PASSWORD)

    clock.advance(settings.refresh_token_ttl_s)

    assert code_of(auth.refresh, tokens.refresh_token) is AuthErrorCode.TOKEN_EXPIRED
    assert auth.purge_refresh_tokens() == 1
    assert code_of(auth.refresh, tokens.refresh_token) is AuthErrorCode.TOKEN_INVALID


def test_unknown_refresh_token_is_invalid(auth: AuthService) -> None:
    assert code_of(auth.refresh, "no-such-token") is AuthErrorCode.TOKEN_INVALID


def test_sessions_per_user_are_capped(engine: Engine, tmp_path: Path, clock: FakeClock) -> None:
    settings = load_settings(None, data_dir=tmp_path, jwt_secret=SECRET, sessions_per_user_max=2)
    auth = AuthService(engine, settings, clock, password_hasher=FAST_HASHER)
    auth.create_user("alice", PASSWORD)
    sessions: list[TokenPair] = []
    for _ in range(3):
        sessions.append(auth.login("alice", PASSWORD))
        clock.advance(1)

    assert code_of(auth.refresh, sessions[0].refresh_token) is AuthErrorCode.TOKEN_INVALID
    auth.refresh(sessions[1].refresh_token)
    auth.refresh(sessions[2].refresh_token)


# --------------------------------------------------------------------------- second factor


def test_totp_enrolment_and_verification_grant_mfa(auth: AuthService, clock: FakeClock) -> None:
    user = auth.create_user("alice", PASSWORD)
    enrollment = enroll(auth, user.id)
    assert code_of(auth.confirm_totp, user.id, "000000") is AuthErrorCode.INVALID_SECOND_FACTOR
    confirmed = auth.confirm_totp(user.id, clock.totp(enrollment.secret))
    assert auth.authenticate_token(confirmed.access_token).mfa  # the code proved the factor
    replayed = code_of(auth.confirm_totp, user.id, clock.totp(enrollment.secret))
    assert replayed is AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED
    clock.advance(30)
    tokens = auth.login("alice", PASSWORD)
    before = auth.authenticate_token(tokens.access_token)

    verified = auth.verify_totp(tokens.access_token, clock.totp(enrollment.secret))
    after = auth.authenticate_token(verified.access_token)

    assert enrollment.provisioning_uri.startswith("otpauth://totp/TradingFloor:alice?")
    assert enrollment.secret in enrollment.provisioning_uri
    assert auth.get_user(user.id).totp_enabled
    assert code_of(before.require, Scope.TRADE) is AuthErrorCode.SECOND_FACTOR_REQUIRED
    after.require(scope=Scope.TRADE)
    assert auth.authenticate_token(auth.refresh(verified.refresh_token).access_token).mfa


def test_replayed_totp_code_is_refused(auth: AuthService, clock: FakeClock) -> None:
    user = auth.create_user("alice", PASSWORD)
    secret = enable_totp(auth, clock, user.id)
    token = auth.login("alice", PASSWORD).access_token
    code = clock.totp(secret)
    auth.verify_totp(token, code)

    replay_now = code_of(auth.verify_totp, token, code)
    clock.advance(10)  # same 30 s step
    replay_later = code_of(auth.verify_totp, token, code)
    earlier_step = code_of(auth.verify_totp, token, clock.totp(secret, steps_ahead=-1))
    clock.advance(30)
    auth.verify_totp(token, clock.totp(secret))

    assert replay_now is AuthErrorCode.INVALID_SECOND_FACTOR
    assert replay_later is AuthErrorCode.INVALID_SECOND_FACTOR
    assert earlier_step is AuthErrorCode.INVALID_SECOND_FACTOR


def test_totp_tolerates_one_step_of_drift_and_no_more(auth: AuthService, clock: FakeClock) -> None:
    user = auth.create_user("alice", PASSWORD)
    secret = enable_totp(auth, clock, user.id)
    token = auth.login("alice", PASSWORD).access_token

    two_ahead = code_of(auth.verify_totp, token, clock.totp(secret, steps_ahead=2))
    auth.verify_totp(token, clock.totp(secret, steps_ahead=1))

    assert two_ahead is AuthErrorCode.INVALID_SECOND_FACTOR


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef"])
def test_malformed_totp_code_is_refused(auth: AuthService, clock: FakeClock, code: str) -> None:
    user = auth.create_user("alice", PASSWORD)
    enable_totp(auth, clock, user.id)
    token = auth.login("alice", PASSWORD).access_token

    assert code_of(auth.verify_totp, token, code) is AuthErrorCode.INVALID_SECOND_FACTOR


def test_totp_needs_enrolment_and_cannot_be_replaced(auth: AuthService, clock: FakeClock) -> None:
    user = auth.create_user("alice", PASSWORD)
    token = auth.login("alice", PASSWORD).access_token

    not_enrolled = code_of(auth.verify_totp, token, "123456")
    not_started = code_of(auth.confirm_totp, user.id, "123456")
    enable_totp(auth, clock, user.id)
    replaced = code_of(auth.enroll_totp, user.id, "any-token")

    assert not_enrolled is AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED
    assert not_started is AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED
    assert replaced is AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED
    assert code_of(auth.enroll_totp, 12345, "any-token") is AuthErrorCode.UNKNOWN_USER


# --------------------------------------------------------------------------- API keys


def test_api_key_authenticates_as_its_owner_with_its_scopes(auth: AuthService) -> None:
    user = auth.create_user("bot-owner", PASSWORD, account_id="ACC-9")

    key_id, secret = auth.create_api_key(user.id, [Scope.READ], label="reporting")
    principal = auth.authenticate_api_key(key_id, secret)
    again = auth.authenticate_api_key(key_id, secret)  # from the cache

    assert (
        principal
        == again
        == Principal(
            user_id=user.id,
            account_id="ACC-9",
            role=Role.TRADER,
            scopes=frozenset({Scope.READ}),
            mfa=True,
            api_key_id=key_id,
        )
    )
    principal.require(scope=Scope.READ)
    assert code_of(principal.require, Scope.TRADE) is AuthErrorCode.FORBIDDEN
    [info] = auth.list_api_keys(user.id)
    assert (info.key_id, info.label, info.scopes, info.revoked) == (
        key_id,
        "reporting",
        frozenset({Scope.READ}),
        False,
    )


def test_api_key_secret_is_not_stored(auth: AuthService, engine: Engine) -> None:
    user = auth.create_user("alice", PASSWORD)
    _, secret = auth.create_api_key(user.id, ["trade"])

    with engine.connect() as connection:
        dump = str(connection.execute(text("SELECT * FROM api_keys")).all())

    assert secret not in dump


def test_wrong_api_key_secret_or_id_is_refused(auth: AuthService) -> None:
    user = auth.create_user("alice", PASSWORD)
    key_id, secret = auth.create_api_key(user.id, ["trade", "read"])
    auth.authenticate_api_key(key_id, secret)

    wrong_secret = code_of(auth.authenticate_api_key, key_id, secret[:-1] + "x")
    unknown_id = code_of(auth.authenticate_api_key, "TFNOSUCHKEY", secret)
    huge = code_of(auth.authenticate_api_key, key_id, secret * 10)

    assert wrong_secret is unknown_id is huge is AuthErrorCode.INVALID_CREDENTIALS


def test_revoked_api_key_is_refused_at_once(auth: AuthService) -> None:
    user = auth.create_user("alice", PASSWORD)
    other = auth.create_user("bob", PASSWORD)
    key_id, secret = auth.create_api_key(user.id, ["trade"])
    auth.authenticate_api_key(key_id, secret)

    not_owner = code_of(auth.revoke_api_key, key_id, other.id)
    auth.revoke_api_key(key_id, user.id)

    assert not_owner is AuthErrorCode.UNKNOWN_API_KEY
    assert code_of(auth.authenticate_api_key, key_id, secret) is AuthErrorCode.INVALID_CREDENTIALS
    assert code_of(auth.revoke_api_key, "TFNOSUCHKEY") is AuthErrorCode.UNKNOWN_API_KEY


def test_key_revoked_by_another_gateway_stops_within_the_cache_ttl(
    auth: AuthService, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    user = auth.create_user("alice", PASSWORD)
    key_id, secret = auth.create_api_key(user.id, ["trade"])
    auth.authenticate_api_key(key_id, secret)
    other_gateway = AuthService(engine, settings, clock, password_hasher=FAST_HASHER)

    other_gateway.revoke_api_key(key_id)
    auth.authenticate_api_key(key_id, secret)  # still cached here
    clock.advance(settings.api_key_cache_ttl_s)

    assert code_of(auth.authenticate_api_key, key_id, secret) is AuthErrorCode.INVALID_CREDENTIALS


def test_api_key_scopes_are_checked(auth: AuthService) -> None:
    trader = auth.create_user("alice", PASSWORD)
    admin = auth.create_user("root", PASSWORD, role="admin")

    beyond_role = code_of(auth.create_api_key, trader.id, ["admin"])
    unknown = code_of(auth.create_api_key, trader.id, ["withdraw"])
    empty = code_of(auth.create_api_key, trader.id, [])
    admin_key = auth.authenticate_api_key(*auth.create_api_key(admin.id, ["admin"]))

    assert beyond_role is AuthErrorCode.FORBIDDEN
    assert unknown is empty is AuthErrorCode.INVALID_ARGUMENT
    admin_key.require(scope=Scope.ADMIN, role=Role.ADMIN)


def test_api_keys_per_user_are_capped(engine: Engine, tmp_path: Path, clock: FakeClock) -> None:
    settings = load_settings(None, data_dir=tmp_path, jwt_secret=SECRET, api_keys_per_user_max=2)
    auth = AuthService(engine, settings, clock, password_hasher=FAST_HASHER)
    user = auth.create_user("alice", PASSWORD)
    first, _ = auth.create_api_key(user.id, ["read"])
    auth.create_api_key(user.id, ["read"])

    over = code_of(auth.create_api_key, user.id, ["read"])
    auth.revoke_api_key(first)
    auth.create_api_key(user.id, ["read"])

    assert over is AuthErrorCode.TOO_MANY_API_KEYS


# --------------------------------------------------------------------------- roles and scopes


def test_roles_grant_scopes(auth: AuthService) -> None:
    auth.create_user("root", PASSWORD, role=Role.ADMIN)
    auth.create_user("alice", PASSWORD)

    admin = auth.authenticate_token(auth.login("root", PASSWORD).access_token)
    trader = auth.authenticate_token(auth.login("alice", PASSWORD).access_token)

    admin.require(scope=Scope.ADMIN, mfa=False, role=Role.ADMIN)
    admin.require(scope=Scope.TRADE, mfa=False, role=Role.TRADER)
    trader.require(scope=Scope.TRADE, mfa=False, role=Role.TRADER)
    assert code_of(trader.require, Scope.ADMIN, False) is AuthErrorCode.FORBIDDEN
    assert code_of(trader.require, None, False, Role.ADMIN) is AuthErrorCode.FORBIDDEN


# --------------------------------------------------------------------------- error codes


def test_error_codes_are_auth_codes_with_message_and_status() -> None:
    for code in AuthErrorCode:
        assert 4001 <= code.value <= 4999
        assert code.message
        assert code.http_status in {401, 403, 404, 409, 422, 429}
    error = AuthError(AuthErrorCode.TOKEN_EXPIRED)
    assert (error.code, error.message, str(error)) == (
        AuthErrorCode.TOKEN_EXPIRED,
        "token expired",
        "4002 token expired",
    )
