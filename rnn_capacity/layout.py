"""The replica layout, owned here: K replicas of p_k sequences each, on one padded axis.

An ensemble's tensors have a sequence axis of width P = max p_k (or more, for shape
bucketing); replica k's sequences are the first p_k entries, the rest is zero padding.
:func:`padding_mask` says which entries are real, for the data module's batch and the
model's loss alike, and :func:`check_num_sequences` is the one check of a p.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import UsageError
from .trajectories import N_TRAJECTORIES


def check_num_sequences(p, name: str = "num_sequences") -> int:
    """``p``, the number of trajectories, as an int in 1..250 (the data set's size)."""
    value = p.item() if hasattr(p, "item") else p
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an integer in 1..{N_TRAJECTORIES}, got {p!r}")
    if not 1 <= value <= N_TRAJECTORIES:
        raise UsageError(f"{name}={value} out of range: 1..{N_TRAJECTORIES} (the trajectories)")
    return value


def padding_mask(num_sequences: Sequence[int], width: int | None = None) -> torch.Tensor:
    """(K, width) bool: True for replica k's first p_k sequences, False for the padding."""
    width = max(num_sequences) if width is None else width
    return torch.arange(width)[None, :] < torch.tensor(list(num_sequences))[:, None]
