"""Guessing limits, enrolment tokens, disabled users and blocked accounts, and the audit of
sign-in events: AuthService on SQLite and PostgreSQL, and the per-source guard."""

from auth_helpers import (  # noqa: F401 (fixtures by name)
    PASSWORD,
    FakeClock,
    auth_fixture,
    clock_fixture,
    code_of,
    enable_totp,
    engine_fixture,
    postgres_url_fixture,
    settings_fixture,
)
from sqlalchemy import Engine, insert

from tradingfloor.identity import AuthErrorCode, AuthService, Scope
from tradingfloor.identity.lockout import Lockout, SourceGuard
from tradingfloor.store import account_balances

WRONG = "wrong password!"
NS = 1_000_000_000


def fail_logins(auth: AuthService, times: int) -> list[AuthErrorCode]:
    return [code_of(auth.login, "alice", WRONG) for _ in range(times)]


def kinds(auth: AuthService, user_id: int | None = None) -> list[str]:
    return [event["kind"] for event in reversed(auth.auth_events(user_id))]


# --------------------------------------------------------------------------- per user


def test_wrong_passwords_lock_the_user_out_and_each_lockout_doubles(
    auth: AuthService, clock: FakeClock
) -> None:
    user = auth.create_user("alice", PASSWORD)

    first = fail_logins(auth, 5)
    locked = auth.user_state(user.id)
    clock.advance(60)
    auth.login("alice", PASSWORD)
    second = fail_logins(auth, 5)

    assert first == [AuthErrorCode.INVALID_CREDENTIALS] * 5
    assert locked["locked_for_s"] == 60 and locked["lockouts"] == 1
    assert second == [AuthErrorCode.INVALID_CREDENTIALS] * 5
    assert auth.user_state(user.id)["locked_for_s"] == 120


def test_a_locked_out_user_is_refused_before_the_password_is_checked(
    auth: AuthService, clock: FakeClock
) -> None:
    user = auth.create_user("alice", PASSWORD)
    fail_logins(auth, 5)

    clock.advance(59)
    from tradingfloor.identity import AuthError

    try:
        auth.login("alice", PASSWORD)
        raise AssertionError("a locked-out user signed in")
    except AuthError as error:
        refused = error
    guesses_meanwhile = fail_logins(auth, 3)
    state = auth.user_state(user.id)

    assert refused.code is AuthErrorCode.TOO_MANY_ATTEMPTS and refused.retry_after_s == 1
    assert guesses_meanwhile == [AuthErrorCode.TOO_MANY_ATTEMPTS] * 3
    assert state["failed_passwords"] == 0 and state["lockouts"] == 1


def test_a_right_password_resets_the_count_of_wrong_ones(auth: AuthService) -> None:
    user = auth.create_user("alice", PASSWORD)

    fail_logins(auth, 4)
    auth.login("alice", PASSWORD)
    fail_logins(auth, 4)

    assert auth.user_state(user.id)["locked_for_s"] is None


def test_wrong_codes_lock_the_user_out_and_a_whole_sign_in_ends_the_doubling(
    auth: AuthService, clock: FakeClock
) -> None:
    user = auth.create_user("alice", PASSWORD)
    secret = enable_totp(auth, clock, user.id)
    token = auth.login("alice", PASSWORD).access_token

    wrong = [code_of(auth.verify_totp, token, "000000") for _ in range(5)]
    right_but_locked = code_of(auth.verify_totp, token, clock.totp(secret))
    clock.advance(60)
    auth.verify_totp(token, clock.totp(secret))

    assert wrong == [AuthErrorCode.INVALID_SECOND_FACTOR] * 5
    assert right_but_locked is AuthErrorCode.TOO_MANY_ATTEMPTS
    state = auth.user_state(user.id)
    assert (state["lockouts"], state["failed_codes"], state["locked_for_s"]) == (0, 0, None)


def test_an_admin_unlocks_a_user(auth: AuthService) -> None:
    admin = auth.create_user("root", PASSWORD, role="admin")
    user = auth.create_user("alice", PASSWORD)
    fail_logins(auth, 5)

    auth.unlock_user(user.id, actor_user_id=admin.id)

    auth.login("alice", PASSWORD)
    assert auth.user_state(user.id)["lockouts"] == 0
    unlocked = auth.auth_events(user.id, "user_unlocked")
    assert unlocked[0]["actor_user_id"] == admin.id


def test_lockouts_double_up_to_their_maximum() -> None:
    rule = Lockout(failures_max=5, lockout_s=60, lockout_max_s=3_600)

    lengths = [rule.duration_s(before) for before in (0, 1, 2, 5, 6, 100)]

    assert lengths == [60, 120, 240, 1_920, 3_600, 3_600]
    assert rule.seconds_left(None, 0) is None
    assert rule.seconds_left(10 * NS, 10 * NS) is None
    assert rule.seconds_left(10 * NS + 1, 10 * NS) == 1


# --------------------------------------------------------------------------- second factor


def test_enrolment_needs_the_admin_issued_token_once_and_in_time(
    auth: AuthService, clock: FakeClock
) -> None:
    user = auth.create_user("alice", PASSWORD)
    token, expires_ts = auth.issue_enrollment(user.id)

    forged = code_of(auth.enroll_totp, user.id, "forged-token")
    auth.enroll_totp(user.id, token)
    reused = code_of(auth.enroll_totp, user.id, token)
    late_token, _ = auth.issue_enrollment(user.id)
    clock.advance(3 * 24 * 3600)
    late = code_of(auth.enroll_totp, user.id, late_token)

    assert expires_ts == clock() - 0  # three days after issue: exactly now
    assert forged is reused is late is AuthErrorCode.ENROLLMENT_TOKEN_INVALID
    assert kinds(auth, user.id).count("enrollment_refused") == 3


def test_a_new_enrolment_token_removes_the_second_factor(
    auth: AuthService, clock: FakeClock
) -> None:
    user = auth.create_user("alice", PASSWORD)
    secret = enable_totp(auth, clock, user.id)
    token = auth.login("alice", PASSWORD).access_token

    auth.issue_enrollment(user.id)  # the phone is lost

    assert not auth.get_user(user.id).totp_enabled
    assert code_of(auth.verify_totp, token, clock.totp(secret)) is (
        AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED
    )
    enable_totp(auth, clock, user.id)
    assert auth.get_user(user.id).totp_enabled


# --------------------------------------------------------------------------- users, accounts


def test_a_disabled_user_is_shut_out_until_enabled(auth: AuthService) -> None:
    user = auth.create_user("alice", PASSWORD)
    key = auth.create_api_key(user.id, ["read"])
    session = auth.login("alice", PASSWORD)

    auth.disable_user(user.id)

    assert code_of(auth.login, "alice", PASSWORD) is AuthErrorCode.USER_DISABLED
    assert code_of(auth.authenticate_api_key, *key) is AuthErrorCode.INVALID_CREDENTIALS
    assert code_of(auth.authenticate_token, session.access_token) is AuthErrorCode.USER_DISABLED
    assert code_of(auth.create_api_key, user.id, ["read"]) is AuthErrorCode.USER_DISABLED
    auth.enable_user(user.id)
    auth.login("alice", PASSWORD)
    auth.authenticate_api_key(*key)


def test_a_blocked_account_shuts_its_users_out(auth: AuthService, engine: Engine) -> None:
    user = auth.create_user("alice", PASSWORD, account_id="acct-a")
    key = auth.create_api_key(user.id, ["read"])
    session = auth.login("alice", PASSWORD)
    with engine.begin() as connection:  # the projected status of a blocked account
        connection.execute(
            insert(account_balances).values(
                account="acct-a",
                kind="cash",
                status="blocked",
                settled=0,
                unsettled=0,
                deposited=0,
                withdrawn=0,
                fees=0,
                updated_seq=1,
            )
        )

    auth.block_account("acct-a", True)

    assert code_of(auth.login, "alice", PASSWORD) is AuthErrorCode.ACCOUNT_BLOCKED
    assert code_of(auth.authenticate_api_key, *key) is AuthErrorCode.ACCOUNT_BLOCKED
    assert code_of(auth.authenticate_token, session.access_token) is (
        AuthErrorCode.ACCOUNT_BLOCKED
    )
    assert code_of(auth.refresh, session.refresh_token) is AuthErrorCode.TOKEN_INVALID
    assert code_of(auth.create_api_key, user.id, ["read"]) is AuthErrorCode.ACCOUNT_BLOCKED


def test_a_key_never_mints_a_wider_one(auth: AuthService) -> None:
    user = auth.create_user("alice", PASSWORD)
    maker = frozenset({Scope.READ, Scope.KEYS})

    wider = code_of(auth.create_api_key, user.id, ["read", "trade"], "", maker)
    same = auth.create_api_key(user.id, ["read", "keys"], "", maker)

    assert wider is AuthErrorCode.FORBIDDEN
    assert auth.authenticate_api_key(*same).scopes == maker


def test_sign_in_events_are_audited(auth: AuthService, clock: FakeClock) -> None:
    user = auth.create_user("alice", PASSWORD)
    fail_logins(auth, 1)
    code_of(auth.login, "mallory\u202e\x00" + "x" * 200, WRONG)
    secret = enable_totp(auth, clock, user.id)
    token = auth.login("alice", PASSWORD, source="10.0.0.7").access_token
    auth.verify_totp(token, clock.totp(secret), source="10.0.0.7")
    key_id, _ = auth.create_api_key(user.id, ["read"])
    auth.revoke_api_key(key_id, user.id)

    assert kinds(auth, user.id) == [
        "user_created",
        "login_failed",
        "enrollment_issued",
        "totp_enrolled",
        "totp_confirmed",
        "login",
        "sign_in",
        "key_created",
        "key_revoked",
    ]
    unknown = auth.auth_events(kind="login_failed")[0]
    assert unknown["user_id"] is None and unknown["detail"] == "unknown user"
    assert unknown["username"].isprintable() and len(unknown["username"]) == 64
    assert auth.auth_events(user.id, "sign_in")[0]["source"] == "10.0.0.7"


# --------------------------------------------------------------------------- per source


def test_a_source_is_blocked_after_too_many_failures_within_its_window() -> None:
    now = [0]
    guard = SourceGuard(
        3, window_s=60, block_s=10, block_max_s=25, sources_max=100, clock=lambda: now[0]
    )

    spaced = [guard.failed("a") for _ in range(2)]
    now[0] += 61 * NS  # the window passed: counting starts over
    again = [guard.failed("a") for _ in range(3)]

    assert spaced == [None, None]
    assert again == [None, None, 10]
    assert guard.blocked_s("a") == 10 and guard.blocked_s("b") is None
    now[0] += 10 * NS
    assert guard.blocked_s("a") is None
    assert [guard.failed("a") for _ in range(3)][-1] == 20  # doubled
    now[0] += 20 * NS
    assert [guard.failed("a") for _ in range(3)][-1] == 25  # at most block_max_s


def test_the_source_guard_forgets_the_least_recently_seen_beyond_its_bound() -> None:
    guard = SourceGuard(1, window_s=60, block_s=10, block_max_s=10, sources_max=3, clock=lambda: 0)

    for source in ("a", "b", "c", "d"):
        guard.failed(source)

    assert len(guard) == 3
    assert guard.blocked_s("a") is None and guard.blocked_s("d") == 10
