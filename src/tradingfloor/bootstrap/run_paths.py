"""The run directory of a data directory (`DATA/run`, owner-only): the local transport's
sockets and the roles' ready marks. Its own module so that the roles and the transport
factory both name these paths without importing each other."""

from pathlib import Path

from tradingfloor.config import Settings


def run_dir(settings: Settings) -> Path:
    """Where the roles' sockets and ready marks live (owner-only)."""
    return Path(settings.data_dir) / "run"


def shard_socket(settings: Settings) -> Path:
    return run_dir(settings) / "shard.sock"


def projector_socket(settings: Settings) -> Path:
    return run_dir(settings) / "projector.sock"


def marketdata_socket(settings: Settings) -> Path:
    return run_dir(settings) / "marketdata.sock"


def limiter_socket(settings: Settings) -> Path:
    return run_dir(settings) / "limits.sock"


def ready_mark(settings: Settings, name: str) -> Path:
    return run_dir(settings) / f"{name}.ready"
