"""Keeping a fast device busy: batches made by worker processes, and a run sized to a time budget.

On two CPU cores the network's step dwarfs making its batch, so the training loop makes its own.
On a GPU the step takes a few milliseconds and the augmentation (one affine warp, colour jitter and
Gaussian targets per crop, in NumPy and OpenCV) becomes the whole cost: `workers` processes make
batches ahead of the loop. Each batch is still the pure function of (seed, step) it always was,
so a run with workers draws exactly the batches of a run without.

A GPU lent for minutes rather than hours also needs a run that ends in time with its learning
rate annealed: `minutes` measures the speed over a short probe and sets `iterations` (and so the
cosine schedule) to fill the budget.
"""
from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import torch

T = TypeVar("T")

#: Steps the budget ignores while workers start and the device warms up, then steps it times.
PROBE_SKIP, PROBE_STEPS = 20, 100
#: Share of the budget kept back for the validations and the export after the last step.
RESERVE = 0.08
#: Seconds without a batch after which the workers are taken for stuck: an error, not a silent hang.
STALL_SECONDS = 300


class _Steps(torch.utils.data.Dataset):
    """Step k's batch, as make(k) gives it; the sampler hands out the steps in order."""

    def __init__(self, make: Callable[[int], Any]):
        self.make = make

    def __getitem__(self, step: int) -> tuple[int, Any]:
        return step, self.make(step)


def _worker_init(_: int) -> None:
    """A worker uses one core (many workers each spawning a thread per core only fight) and
    lives in a process group of its own. Ctrl-C and `timeout`'s SIGTERM go to the whole group
    of the command: a worker they killed would end the loop with an error, where the loop
    alone should get them, save its checkpoint and export. (Ignoring the signals instead hangs
    the exit: multiprocessing ends its workers with that same SIGTERM.) The loader still ends
    its workers itself, and a worker ends when it finds its parent gone."""
    torch.set_num_threads(1)
    os.setpgrp()


def batch_stream(make: Callable[[int], T], start: int, workers: int = 0, pin: bool = False
                 ) -> Generator[T, None, None]:
    """make(start), make(start + 1), ... in order, made by `workers` processes ahead of the caller
    (none: made when asked). Infinite; the caller stops taking when its run ends."""
    if workers <= 0:
        return (make(k) for k in itertools.count(start))
    # OpenCV's thread pool does not survive fork: cv2.setNumThreads in a forked worker waited
    # forever on a lock of the pool it inherited (seen on the way here). With no pool in the parent
    # there is none to inherit; the workers are the parallelism.
    import cv2  # noqa: PLC0415

    cv2.setNumThreads(0)
    loader = torch.utils.data.DataLoader(
        _Steps(make), batch_size=None, sampler=itertools.count(start), num_workers=workers,
        pin_memory=pin, prefetch_factor=4, worker_init_fn=_worker_init, timeout=STALL_SECONDS)

    def ordered() -> Generator[T, None, None]:
        for k, (step, batch) in enumerate(loader, start):
            if step != k:  # the loader keeps order; a batch out of place would break resumability
                raise RuntimeError(f"batch of step {step} arrived for step {k}")
            yield batch

    return ordered()


class TimeBudget:
    """Fits a run into `minutes` from its start: after PROBE_SKIP + PROBE_STEPS steps it knows the
    speed and fixes the last step so that the run ends about RESERVE before the budget; past the
    budget itself it says stop, wherever the schedule is."""

    def __init__(self, minutes: float, start_step: int, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.start, self.start_step = clock(), start_step
        self.deadline = self.start + 60.0 * minutes
        self._probe: tuple[int, float] | None = None
        self.planned: int | None = None

    def plan(self, step: int) -> int | None:
        """Called after every step: the total number of steps once the probe is over (else None)."""
        done = step - self.start_step
        if done == PROBE_SKIP:
            self._probe = (step, self.clock())
        elif done == PROBE_SKIP + PROBE_STEPS and self._probe is not None:
            now = self.clock()
            rate = (step - self._probe[0]) / max(1e-6, now - self._probe[1])
            left = (self.deadline - now) - RESERVE * (self.deadline - self.start)
            self.planned = step + max(0, int(rate * left))
        return self.planned

    def over(self) -> bool:
        return self.clock() > self.deadline
