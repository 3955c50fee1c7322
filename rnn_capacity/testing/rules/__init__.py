"""The rules, one module per concern. Importing this package registers them all in
:data:`~rnn_capacity.testing.CHECKS`, in the order of the imports below, which is the
order :func:`~rnn_capacity.testing.check_model` runs them: that of the list in
:mod:`rnn_capacity.testing`'s docstring (tests/test_contract.py compares the two)."""

from __future__ import annotations

from ..registry import CHECKS

# isort: off
# The order of these imports is the order of CHECKS: not alphabetical.
from .options import check_constructor_options, check_option_ranges, check_hparams_round_trip
from .generation import check_generate_shapes, check_generate_determinism, check_initial_state
from .replicas import check_replica_equivalence, check_shared_settings
from .replicas import check_hand_written_bptt, check_padding
from .export import check_replica_export, check_checkpoint_round_trip
from .training import check_training_lowers_loss
from .model_specific import check_closed_form_fit, check_teacher_forcing
# isort: on

__all__ = [
    "CHECKS",
    "check_constructor_options",
    "check_option_ranges",
    "check_hparams_round_trip",
    "check_generate_shapes",
    "check_generate_determinism",
    "check_initial_state",
    "check_replica_equivalence",
    "check_shared_settings",
    "check_hand_written_bptt",
    "check_padding",
    "check_replica_export",
    "check_checkpoint_round_trip",
    "check_training_lowers_loss",
    "check_closed_form_fit",
    "check_teacher_forcing",
]
