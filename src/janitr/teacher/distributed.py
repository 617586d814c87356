"""Running the teacher on several processes (GPUs or machines) started by `torchrun`.

`World` is what torchrun tells each process through its environment (RANK, WORLD_SIZE,
LOCAL_RANK, LOCAL_WORLD_SIZE); `World.from_env()` outside torchrun is the single process, for
which every helper here is a no-op, so a plain `janitr` run behaves exactly as without this
module. `process_group` opens and closes torch's process group (gloo on CPU, NCCL on CUDA, one
GPU per local rank) with a timeout, so a rank that dies or stalls fails the job instead of
hanging it; `barrier` waits for every rank; `device` is the rank's device.

Ranks exchange results through files in a folder every rank sees (the teacher's work folder,
the cache directory; on several machines that must be a shared filesystem): rank r writes
its part atomically, every rank meets at a barrier, and rank 0 reads the parts in order.
What the parts are (seed models, cache shards) stays with `teacher.model` and
`teacher.cache`.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from janitr.errors import ConfigError, require

log = logging.getLogger(__name__)

#: Seconds a collective (a barrier) may wait for the other ranks before the job fails.
DEFAULT_TIMEOUT_S = 3600


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one job.

    Attributes:
        rank: global rank, 0..size-1 (rank 0 merges and writes the outputs).
        size: number of processes (WORLD_SIZE).
        local_rank: rank on this machine (its GPU index on CUDA).
        local_size: processes on this machine (they share its CPU cores).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def active(self) -> bool:
        """More than one process: collectives and file exchange are needed."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def part(self, items: tuple | list) -> tuple | list:
        """This rank's share of `items` when they are dealt round-robin: `items[rank::size]`."""
        return items[self.rank :: self.size]

    def span(self, n: int) -> tuple[int, int]:
        """This rank's contiguous `[start, stop)` of `n` rows (the first `n % size` ranks hold
        one row more), so that the ranks' spans, concatenated in rank order, are `range(n)`."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (self.rank < extra)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> World:
        """The world torchrun describes in `env` (default: `os.environ`); one process when
        WORLD_SIZE is unset.

        Raises:
            ConfigError: if the variables are not integers or the rank is out of range.
        """
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
        defaults = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
        try:
            values = [int(env.get(k, defaults.get(k, env["WORLD_SIZE"]))) for k in names]
        except ValueError:
            found = {k: env.get(k) for k in names}
            raise ConfigError(
                f"torchrun environment: expected integers, found {found}; start janitr with "
                "`torchrun --nproc-per-node N -m janitr ...` or without torchrun"
            ) from None
        world = cls(*values)
        if not (0 <= world.rank < world.size and 0 <= world.local_rank < world.local_size):
            raise ConfigError(
                f"torchrun environment: rank {world.rank} of {world.size} (local "
                f"{world.local_rank} of {world.local_size}) is out of range"
            )
        return world


def _torch():
    return require("torch", extra="train")


@contextlib.contextmanager
def process_group(world: World, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Join the job's process group for the body of the `with` (a no-op for one process).

    NCCL when CUDA is available (this rank's GPU is `cuda:<local_rank>`), else gloo. A
    collective that waits longer than `timeout_s` raises, and torchrun then stops every rank
    and names the one that failed first.

    Raises:
        ConfigError: on CUDA with fewer GPUs than processes on this machine.
    """
    if not world.active:
        yield
        return
    torch = _torch()
    dist = torch.distributed
    backend = "gloo"
    if torch.cuda.is_available():
        if torch.cuda.device_count() < world.local_size:
            raise ConfigError(
                f"{world.local_size} processes on this machine but {torch.cuda.device_count()} "
                "GPU(s): use --nproc-per-node <= the number of GPUs"
            )
        torch.cuda.set_device(world.local_rank)
        backend = "nccl"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    log.debug("rank %d of %d joined the %s process group", world.rank, world.size, backend)
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier(world: World) -> None:
    """Wait until every rank reaches this point (a no-op for one process)."""
    if world.active:
        dist = _torch().distributed
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[world.local_rank])
        else:
            dist.barrier()


def device(world: World, threads: int | None = None):
    """This rank's device: `cuda:<local_rank>` when CUDA is available, else the CPU with
    `threads` torch threads (default: the machine's cores shared among its processes)."""
    torch = _torch()
    if torch.cuda.is_available():
        return torch.device("cuda", world.local_rank) if world.active else torch.device("cuda")
    cores = os.cpu_count() or 1
    torch.set_num_threads(threads or max(1, cores // world.local_size))
    return torch.device("cpu")
