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


def setup(device: str | None) -> tuple[Ranks, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment (NCCL on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    ranks = Ranks(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    wanted = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if wanted == "cuda" and ranks.distributed:
        wanted = f"cuda:{ranks.local_rank}"
    chosen = torch.device(wanted)
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
