"""What `serve` does once the shard answers, whichever the topology: the first admin of a new
platform, or the demo's accounts and logins; and the demo's simulated market, which runs next
to the shard (its traders read the engine between commands, as a co-located client would).
"""

import asyncio
import secrets
from pathlib import Path

from tradingfloor.domain.commands import Command, OpenAccount
from tradingfloor.domain.events import Event
from tradingfloor.domain.origin import role_origin
from tradingfloor.identity import AuthError, AuthService
from tradingfloor.service.ports import ShardPort
from tradingfloor.service.shard import ShardRole

DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    ("admin", "admin", "demo-admin"),
    ("alice", "trader", "demo-alice"),
    ("bob", "trader", "demo-bob"),
)

DEMO_ORIGIN = role_origin("demo")
"""The origin of the demo market's commands."""


async def first_admin(auth: AuthService) -> None:
    """A new platform has one admin, with a password and a second-factor enrolment token
    printed once."""
    if await asyncio.to_thread(auth.has_users):
        return
    password = secrets.token_urlsafe(12)
    try:
        user = await asyncio.to_thread(auth.create_user, "admin", password, "admin", "admin")
    except AuthError:
        return
    token, _ = await asyncio.to_thread(auth.issue_enrollment, user.id)
    print(
        f"created user admin with password {password} and second-factor enrolment token "
        f"{token} (shown once: sign in, then POST /v1/auth/totp/enroll)",
        flush=True,
    )


async def demo_logins(shard: ShardPort, auth: AuthService, data_dir: Path) -> None:
    """The demo's accounts and logins (made once, kept in the data directory), printed."""
    from tradingfloor.demo.logins import ensure_demo_logins

    for _username, _role, account in DEMO_USERS:
        if await shard.account(account, 0) is None:
            await shard.submit(OpenAccount(account), DEMO_ORIGIN)
    logins = await asyncio.to_thread(ensure_demo_logins, auth, data_dir, DEMO_USERS, DEMO_PASSWORD)
    print(
        "demo logins (sign in with the password, then a code of the TOTP secret; "
        "an API key needs no code):",
        flush=True,
    )
    for login in logins:
        print(
            f"  {login.username:<6} password {DEMO_PASSWORD}  account {login.account:<11} "
            f"API key {login.key_id} secret {login.key_secret}  TOTP secret {login.totp_secret}",
            flush=True,
        )
    print(
        """  a code now: python -c 'import pyotp; print(pyotp.TOTP("<TOTP secret>").now())'""",
        flush=True,
    )


async def start_demo_market(
    shard: ShardRole, stop: asyncio.Event, seed: int
) -> "asyncio.Task[None]":
    """List the demo's symbols and fund its traders (once), then run its market until `stop`."""
    from tradingfloor.demo import DemoMarket, DemoSpec, is_set_up, setup_commands
    from tradingfloor.demo.spec import desk_commands
    from tradingfloor.service.sequencer import JournalUnavailable, Overloaded

    spec = DemoSpec()
    if not is_set_up(shard.engine, spec):
        for command in setup_commands(spec):
            await shard.submit(command, DEMO_ORIGIN)
    risk = shard.engine.risk
    if risk is not None and spec.desk_account not in risk.ledger.accounts:
        for command in desk_commands(spec):
            await shard.submit(command, DEMO_ORIGIN)

    async def submit(command: Command) -> list[Event]:
        return (await shard.submit(command, DEMO_ORIGIN)).events

    retry_on = (Overloaded, JournalUnavailable)  # a full queue, a full disk: both pass
    market = DemoMarket(spec, submit, shard.engine, seed=seed, retry_on=retry_on)
    return asyncio.create_task(market.run(stop))
