"""The running mean of a network's weights along its own training run (stochastic weight
averaging, Izmailov et al., UAI 2018), exported in place of the last step's weights.

Why: legs of the default network trained from one another end in nearby minima, and the
plain mean of three of them (scripts/average_weights.py) scored higher on held-out photos
than any of the three (docs/training.md, section 2). The same effect comes from one run held
at a steady learning rate, whose weights wander around one minimum: their mean sits nearer its
centre. torch.optim.swa_utils keeps that mean (AveragedModel) and recomputes the BatchNorm
statistics the averaged weights need (update_bn): the statistics of the last step belong to the
last step's weights, not to the mean.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn

from ..errors import ConfigError


class WeightAverage:
    """The mean of a network's weights at steps `start`, `start + every`, ... of a run.

    Its state travels in the run's checkpoint, so a resumed run averages exactly as one that
    was never stopped."""

    def __init__(self, net: nn.Module, start: int, every: int):
        if start < 0 or every < 1:
            raise ConfigError(f"average_from must be 0 or more and average_every 1 or more (got {start}, {every})")
        self.start, self.every = int(start), int(every)
        self.model = AveragedModel(net)

    @property
    def count(self) -> int:
        """How many steps' weights are in the mean so far."""
        return int(self.model.n_averaged)

    def update(self, net: nn.Module, step: int) -> None:
        """Add the weights after `step` steps when that step is one the mean takes."""
        if step >= self.start and (step - self.start) % self.every == 0:
            self.model.update_parameters(net)

    def state_dict(self) -> dict[str, Any]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)

    def network(self, inputs: Iterable[torch.Tensor]) -> nn.Module:
        """The averaged network, its BatchNorm statistics measured afresh on `inputs` (batches of
        training crops). Asked for before any step's weights are in the mean, it refuses."""
        if self.count == 0:
            raise ValueError("no weights averaged yet")
        net = self.model.module
        with torch.no_grad():  # update_bn only runs the network forward, for its statistics
            update_bn(inputs, net, device=next(net.parameters()).device)
        return net.eval()
