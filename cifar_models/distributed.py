"""DistributedDataParallel plumbing for ``torchrun``: which rank this is, and a no-op when run alone."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """Only rank 0 prints progress and writes files."""
        return self.rank == 0


class DeviceError(ValueError):
    """A device this machine does not have; the message names the ones it has."""


def devices_here(cuda_count: int) -> list[str]:
    return ["cpu", *(f"cuda:{index}" for index in range(cuda_count))]


def choose_device(requested: str | None, *, cuda_count: int, current_index: int = 0, local_rank: int = 0,
                  distributed: bool = False) -> torch.device:
    """The device ``requested`` (``cpu``, ``cuda``, ``cuda:N`` or None) means on a machine with ``cuda_count`` GPUs.

    None is ``cuda`` where there is a GPU, else ``cpu``. ``cuda`` always gets an index (``torch.cuda.set_device``
    refuses one without): ``LOCAL_RANK``'s GPU under torchrun, else the current one. Raises DeviceError for a name
    that is not a device, or a GPU this machine does not have."""
    if requested is None:
        requested = "cuda" if cuda_count else "cpu"
    here = f"the devices here are {', '.join(devices_here(cuda_count))}"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"--device {requested!r} is not a device; {here}") from None
    if device.type == "cpu" and device.index is None:
        return device
    if device.type != "cuda":
        raise DeviceError(f"--device {requested!r} is not a device this lab trains on; {here}")
    if not cuda_count:
        raise DeviceError(f"--device {requested} needs a CUDA GPU and this machine has none; {here}")
    index = device.index if device.index is not None else (local_rank if distributed else current_index)
    if index >= cuda_count:
        raise DeviceError(f"--device {requested}: there is no cuda:{index} ({cuda_count} CUDA GPU"
                          f"{'s' if cuda_count > 1 else ''} here); {here}")
    return torch.device("cuda", index)


def ranks_from_environment() -> Ranks:
    """This process's place in the job ``torchrun`` describes in the environment (rank 0 of 1 when run alone)."""
    return Ranks(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                 int(os.environ.get("LOCAL_RANK", "0")))


def device_here(requested: str | None, ranks: Ranks = Ranks()) -> torch.device:
    """``choose_device`` on this machine. The current GPU is read only once CUDA is initialised (until then it is
    0), so choosing ``cpu`` never starts CUDA."""
    current = torch.cuda.current_device() if torch.cuda.is_initialized() else 0
    return choose_device(requested, cuda_count=torch.cuda.device_count(), current_index=current,
                         local_rank=ranks.local_rank, distributed=ranks.distributed)


def setup(device: str | None) -> tuple[Ranks, torch.device]:
    """Choose the device (DeviceError for one this machine lacks) and join the process group that ``torchrun``
    describes in the environment (NCCL on CUDA, gloo on CPU)."""
    ranks = ranks_from_environment()
    chosen = device_here(device, ranks)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if ranks.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    return ranks, chosen


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    if ranks.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()


def finish(ranks: Ranks) -> None:
    """Wait until every rank is done (rank 0, which evaluates and writes, is last) before any leaves, after a run
    that worked. Call it before :func:`teardown`.

    Without it a rank > 0 leaves right after its last collective (the weights' all-gather) while rank 0 is still
    evaluating, and on a busy machine it could abort at exit with "terminate called without an active exception":
    gloo releases a finished collective on its own worker thread, that release drops tensors Python also holds and
    so takes the GIL, and ``destroy_process_group`` does not join those threads once DDP has used the group. A
    release that came after the interpreter began shutting down made CPython end the thread inside a C++ destructor,
    which calls std::terminate. Waiting here for rank 0 gives every release seconds to happen while Python is still
    running, and a barrier holds no tensors, so nothing that ends later touches Python."""
    barrier(ranks)
