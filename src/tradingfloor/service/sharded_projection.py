"""`ProjectionPort` over the projections of several shards, in seq tokens.

On a platform of several symbol shards each shard has its projector (its own resume point in
the one database, `store.projector.projection_name`) and its status. A reader waits on the
token its client names (`domain.shards.seq_token`: a shard and a seq in one number): this
port sends the wait to that shard's projection and answers in tokens of that shard, so a
`projected_seq` compares with the token directly. Its `status` is the platform's as a whole:
None while any shard's projector cannot be reached, the first failure while one fails.
"""

from collections.abc import Sequence

from tradingfloor.domain.shards import seq_token, split_token
from tradingfloor.service.ports import ProjectionPort, ProjectionStatus


class ShardedProjection:
    def __init__(self, ports: Sequence[ProjectionPort]) -> None:
        """`ports`: each shard's projection, in the shard map's order."""
        self.ports = list(ports)

    def _port(self, token: int) -> tuple[int, ProjectionPort]:
        index, _ = split_token(token)
        if index >= len(self.ports):
            raise LookupError(f"no shard for seq token {token}")
        return index, self.ports[index]

    def status(self) -> ProjectionStatus | None:
        statuses = [port.status() for port in self.ports]
        if any(status is None for status in statuses):
            return None
        failing = [status for status in statuses if status is not None and status.failure]
        if failing:
            return failing[0]
        first = statuses[0]
        return first

    def status_of(self, token: int) -> ProjectionStatus | None:
        index, port = self._port(token)
        return _in_tokens(index, port.status_of(seq_token(0, split_token(token)[1])))

    async def wait_for(self, token: int, timeout_s: float) -> ProjectionStatus | None:
        index, port = self._port(token)
        status = await port.wait_for(split_token(token)[1], timeout_s)
        return _in_tokens(index, status)

    def projected_tokens(self) -> list[int]:
        """Where each shard's read models stand, as tokens (0 where unknown)."""
        found = []
        for index, port in enumerate(self.ports):
            status = port.status()
            found.append(seq_token(index, status.projected_seq if status else 0))
        return found


def _in_tokens(index: int, status: ProjectionStatus | None) -> ProjectionStatus | None:
    if status is None:
        return None
    token = seq_token(index, status.projected_seq)
    return ProjectionStatus(token, status.failure, status.retry_after_s)
