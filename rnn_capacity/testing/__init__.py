r"""The model contract: every rule the package relies on, checked against a model class.

In the spirit of scikit-learn's ``check_estimator``: :func:`check_model` runs every rule
against a :class:`~rnn_capacity.models.CapacityModule` subclass at a tiny size (``H = 8``,
replicas of ``p = 2, 3, 1`` sequences, ``T`` the class's ``num_steps`` default; 20 for the
rules run through a Trainer, where the class takes ``num_steps``) and returns
a :class:`ContractReport`, or raises :class:`ContractError` (an ``AssertionError``) naming
the first rule that failed and what it observed. :func:`parametrize_with_checks` makes
one pytest test per (model, rule). Each rule is also a function of its own,
``check_<rule>(cls, **kwargs)``; ``kwargs`` are ``hidden_size``, ``num_steps`` and any of
the model's options (a per-replica hyperparameter given there is replica 0's value; the
other replicas vary it inside its declared range).

The rules (:data:`CHECKS`, in the order :func:`check_model` runs them):

``check_constructor_options``
    Every named argument of every ``__init__`` in the class's MRO is a declared option
    (``cls.options()``), a ``STRUCTURE`` argument or ``pad_to`` (an ignored option must
    be one a base class declares, e.g. the ESN's ``lr``); every declared option is a
    constructor argument, is recorded in ``hparams``, and every per-replica one other than
    ``lr`` is a ``(K, 1, 1)`` buffer listed in ``replica_hparams``. Inspects the
    signatures first, so a model whose constructor cannot even run is still named here.
``check_option_ranges``
    Out-of-range values (below ``low``, ``low`` itself when open, above ``high``, NaN, a
    wrong type, a non-choice, ``None`` when not nullable; one bad value in a per-replica
    list; bad structure arguments; an unknown name) raise
    :class:`~rnn_capacity.errors.UsageError`, one line naming the option; in-range values,
    the edges of closed ranges included, build. A legacy value builds the model its new
    name builds and is recorded under the new name.
``check_hparams_round_trip``
    ``save_hyperparameters`` records every constructor argument as given (per-replica
    lists, non-default settings), and ``cls(**model.hparams)`` builds the same model:
    equal ``hparams``, bit-identical state dict and ``generate()``.
``check_generate_shapes``
    ``generate()`` is ``(T, p, 2)`` for a single model and ``(T, K, P, 2)`` for an
    ensemble (``forward`` is ``(T, K, P, 2)`` for both), finite, without a graph, and
    leaves the module in the train/eval mode it found it in; ``mask`` is the padding
    layout.
``check_generate_determinism``
    The same seed builds the same model whatever the global RNG's state (bit-identical
    state dict and ``generate()``); ``generate()`` twice gives the same; another seed
    gives other trajectories.
``check_initial_state``
    ``learn_initial_state`` both ways: the initial states are trained parameters
    (``requires_grad``, non-zero gradient, changed by training) or not (no gradient,
    unchanged by training); frozen tensors never take a gradient; buffers never require
    one. For a closed-form model no tensor takes a gradient and training leaves the
    initial states as drawn, whatever ``learn_initial_state`` says.
``check_replica_equivalence``
    Replica ``k`` of an ensemble with different ``p``, seeds and per-replica
    hyperparameters (learning rates included) starts exactly where the single model with
    that seed starts (bit-identical tensors), and has its outputs, loss and gradients
    (rtol 1e-5 / atol 1e-6 on outputs and losses, rtol 1e-4 / atol 1e-6 on gradients);
    after 8 Adam steps (the module's own ``configure_optimizers`` and ``training_step``)
    its outputs and every tensor still match (rtol 1e-3, atol 2e-4: float rounding of
    batched products, amplified by the velocity models to ~1e-4). A closed-form model is
    compared after its fit (one real Trainer run each) instead of gradients and Adam.
``check_shared_settings``
    For every value of every shared setting (``teacher_forcing``' three modes,
    ``state_inference`` both ways, ``factors``, ``ridge``...): recorded in ``hparams``,
    and replica ``k`` is still the single model (outputs, loss, gradients, one step).
``check_hand_written_bptt`` (models whose hand-written BPTT runs, models/bptt.py)
    The ensemble through its ``bptt_loop`` and the same ensemble with
    ``hand_written_bptt = False`` (autograd's loop): outputs in train and eval mode,
    ``generate()`` and losses (rtol 1e-5 / atol 1e-6), every tensor's gradient (rtol 1e-4 /
    atol 1e-6), and after 8 Adam steps the outputs and every tensor (rtol 1e-3, atol
    2e-4); for every value of every shared setting, the same with one Adam step. A
    closed-form model: outputs and losses.
``check_padding``
    The padded entries of the initial states and of the per-sequence weights start at
    zero and receive exactly zero gradient; the loss of replica ``k`` is the MSE over its
    own ``p_k`` sequences and ignores whatever the padded predictions and targets are;
    filling the padded entries with noise changes no real output, loss, gradient (or
    closed-form fit); after training the padded entries are still exactly zero.
``check_replica_export``
    ``replica(k)`` of a trained ensemble is a single model of the same class with replica
    ``k``'s seed, ``p``, learning rate and hyperparameters, unpadded tensors, generating
    what replica ``k`` generated (default ``assert_close`` tolerances); ``replica(K)``
    raises ``IndexError``.
``check_checkpoint_round_trip``
    After a real Trainer run (2 steps, ``T = 20``) of an ensemble with non-default
    settings, ``trainer.save_checkpoint`` and ``module.save_checkpoint`` both reload
    through ``cls.load_from_checkpoint`` into the same class with equal ``hparams``,
    bit-identical state dict and bit-identical ``generate()``; so does a single model
    (``replica(0)``); ``load_state_dict`` into a model with other seeds gives the same
    outputs.
``check_training_lowers_loss``
    30 steps of a real Lightning Trainer at ``T = 20`` (a closed-form model: its fit) lower
    every replica's loss and log a finite ``train/loss``.
``check_closed_form_fit`` (closed-form models only: no trainable tensor)
    The fit lowers every replica's loss, changes some tensors, leaves the training loss
    stationary at the fitted tensors (its gradient there ≤ 1 % of the one before the fit,
    + 1e-6: a least-squares fit, lightly regularised — the ESN's default ridge 1e-6 gives
    ~1e-4, ridge 1e-3 ~1e-2), and a second fit changes nothing.
``check_teacher_forcing`` (models with a ``teacher_forcing`` setting only)
    ``none`` ignores the targets; ``train`` and ``always`` feed the target as the next
    input while training (the first step is the free one's, the second not); in eval mode
    ``train`` is the free generation and ``always`` still feeds the targets (its count);
    ``generate()`` without targets is free generation for every mode.

A *closed-form* model (no tensor requires a gradient, or manual optimisation, such as
the :class:`~rnn_capacity.models.ESN`) is trained by its own ``training_step`` in a real
Trainer; the gradient and Adam parts of the rules above do not apply to it and the
report says so in ``notes``.

Examples
--------
>>> from rnn_capacity.models import ESN, SRNN
>>> from rnn_capacity.testing import check_model, check_padding, check_replica_equivalence
>>> report = check_model(SRNN, num_steps=10)  # every rule; ContractError at the first broken one
>>> report.passed[:3]
['check_constructor_options', 'check_option_ranges', 'check_hparams_round_trip']
>>> sorted(report.skipped)  # the rules that do not apply to SRNN (report.skipped: why)
['check_closed_form_fit', 'check_shared_settings', 'check_teacher_forcing']
>>> check_padding(SRNN, hidden_size=6)  # one rule: returns None (or a note) when it holds
>>> print(check_replica_equivalence(ESN, num_steps=10))  # a note: how the rule was adapted
closed-form fit: compared after each model's own fit, not by gradients and Adam steps

A model that breaks a rule:

>>> class Leaky(SRNN):  # its loss forgets the padding mask
...     def replica_losses(self, pred, targets):
...         return (pred - targets).square().mean(dim=(0, 2, 3))
>>> check_padding(Leaky, num_steps=10)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rnn_capacity.testing.ContractError: check_padding failed for Leaky(num_steps=10): padded ...

In a test file, one test per (model, rule)::

    from rnn_capacity.models import MODELS, PCRNNHCM
    from rnn_capacity.testing import parametrize_with_checks

    @parametrize_with_checks([*MODELS.values(), (PCRNNHCM, {"factors": 3})])
    def test_contract(model, check):
        check(model)  # ids: "SRNN-check_padding", "PCRNNHCM(factors=3)-check_padding", ...
"""

from __future__ import annotations

from collections.abc import Callable

from . import registry

# Every public name, and the private ones the package's own tests use, re-exported here:
# import them from rnn_capacity.testing, not from the modules that hold them.
from .machinery import CLOSED_FORM_NOTE, _close, _targets, _train, _trainer_fit  # noqa: F401
from .parametrize import parametrize_with_checks
from .registry import ContractError, SkipCheck
from .rules import (  # noqa: F401
    check_checkpoint_round_trip,
    check_closed_form_fit,
    check_constructor_options,
    check_generate_determinism,
    check_generate_shapes,
    check_hand_written_bptt,
    check_hparams_round_trip,
    check_initial_state,
    check_option_ranges,
    check_padding,
    check_replica_equivalence,
    check_replica_export,
    check_shared_settings,
    check_teacher_forcing,
    check_training_lowers_loss,
)
from .runner import ContractReport, applicable_checks, check_model
from .spec import (  # noqa: F401
    ADAM_STEPS,
    EXACT,
    GRADIENT,
    HIDDEN_SIZE,
    NUM_SEQUENCES,
    SEEDS,
    SHORT_STEPS,
    TIGHT,
    TRAINED,
    TRAINING_STEPS,
    _Spec,
)

#: name → check function, in the order :func:`check_model` runs them.
CHECKS: dict[str, Callable] = registry.CHECKS  # the registry's dict, documented here

__all__ = [
    "CHECKS",
    "ContractError",
    "ContractReport",
    "SkipCheck",
    "applicable_checks",
    "check_model",
    "parametrize_with_checks",
]

# The exceptions a traceback shows keep the name they had before the package was split
# into modules (the example above prints it): rnn_capacity.testing.ContractError.
ContractError.__module__ = SkipCheck.__module__ = __name__
