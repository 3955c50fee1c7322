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

import functools
import inspect
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .cli import quiet_lightning
from .data import TrajectoryDataModule
from .errors import UsageError, one_line
from .measure import make_trainer
from .models.base import bptt_applies
from .models.compiled import compiles

__all__ = [
    "CHECKS",
    "ContractError",
    "ContractReport",
    "SkipCheck",
    "applicable_checks",
    "check_model",
    "parametrize_with_checks",
]

#: Sizes of the checks: tiny, so that every rule over every model runs in seconds.
HIDDEN_SIZE = 8
NUM_SEQUENCES = (2, 3, 1)  # replica k's p: replicas 0 and 2 are padded to P = 3
SEEDS = (11, 12, 13)
ADAM_STEPS = 8
TRAINING_STEPS = 30
SHORT_STEPS = 20  # T of the rules run through a Trainer (T matters not to them)

#: Tolerances. Before training a batched product differs from a single one by float
#: rounding only; 8 Adam steps amplify it (PC-RNN-GC-HC-M needs atol 2e-4).
TIGHT = {"rtol": 1e-5, "atol": 1e-6}
GRADIENT = {"rtol": 1e-4, "atol": 1e-6}
TRAINED = {"rtol": 1e-3, "atol": 2e-4}
EXACT = {"rtol": 0.0, "atol": 0.0}


class ContractError(AssertionError):
    """A model broke a rule: ``check`` (the rule's name), ``model`` and ``observed``."""

    def __init__(self, check: str, model: str, observed: str):
        self.check, self.model, self.observed = check, model, observed
        super().__init__(f"{check} failed for {model}: {observed}")


class SkipCheck(Exception):  # noqa: N818  (not an error: the rule does not apply)
    """A rule that does not apply to this model (``reason`` says why)."""

    def __init__(self, check: str, reason: str):
        self.check, self.reason = check, reason
        super().__init__(f"{check} skipped: {reason}")


@dataclass
class ContractReport:
    """What :func:`check_model` found: the rules passed, those that do not apply (name →
    reason) and notes on how a rule was adapted (e.g. to a closed-form model)."""

    model: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"{self.model}: {len(self.passed)} rules passed ({self.seconds:.1f} s)"]
        lines += [f"  passed  {name}" + self._note(name) for name in self.passed]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)

    def _note(self, name: str) -> str:
        return f" ({self.notes[name]})" if name in self.notes else ""


# --------------------------------------------------------------------------------------
# What a check is given: the class, its sizes and base option values
# --------------------------------------------------------------------------------------


def _init_parameters(cls) -> dict[str, inspect.Parameter]:
    """The named constructor arguments of every ``__init__`` in ``cls``'s MRO, mixins
    included (subclass first; the first default seen wins), up to the LightningModule."""
    out: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is pl.LightningModule:
            break
        if "__init__" not in vars(klass):
            continue
        for name, param in inspect.signature(klass.__init__).parameters.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            out.setdefault(name, param)
    return out


def _accepts(cls, name: str) -> bool:
    """Whether ``cls(..., name=...)`` reaches an ``__init__`` that names ``name``: every
    ``__init__`` before it in the MRO names it or passes ``**kwargs`` on."""
    for klass in cls.__mro__:
        if klass is pl.LightningModule:
            return False
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        if name in params:
            return True
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return False
    return False


def _label(cls, kwargs: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{cls.__name__}({args})" if args else cls.__name__


@dataclass
class _Spec:
    """A model class with the checks' sizes and option values."""

    cls: type
    hidden_size: int
    num_steps: int | None
    base: dict

    @classmethod
    def of(cls, model_cls, kwargs: dict) -> _Spec:
        kwargs = dict(kwargs)
        hidden = kwargs.pop("hidden_size", HIDDEN_SIZE)
        steps = kwargs.pop("num_steps", None)
        return cls(model_cls, hidden, steps, kwargs)

    @property
    def name(self) -> str:
        return self.cls.__name__

    def shortened(self) -> _Spec:
        """This spec with ``T = SHORT_STEPS`` where the caller set none and the class
        allows it: for the rules run through a Trainer, whose length does not matter."""
        if self.num_steps is not None or not _accepts(self.cls, "num_steps"):
            return self
        default = self.default("num_steps")
        steps = min(SHORT_STEPS, default) if isinstance(default, int) else SHORT_STEPS
        return _Spec(self.cls, self.hidden_size, steps, self.base)

    @functools.cached_property
    def options(self) -> dict:
        return self.cls.options()

    @property
    def per_replica(self) -> list[str]:
        return [n for n, o in self.options.items() if o.per_replica]

    @property
    def settings(self) -> list[str]:
        return [n for n, o in self.options.items() if not o.per_replica]

    def default(self, name: str):
        if name in self.base:
            return self.base[name]
        param = _init_parameters(self.cls).get(name)
        return None if param is None or param.default is param.empty else param.default

    def values(self, name: str, k: int | None = None):
        """Replica values of a per-replica option: ``K`` distinct in-range values (replica
        0's is the default or the caller's), or replica ``k``'s."""
        values = _distinct_values(self.options[name], self.default(name), len(SEEDS))
        return values if k is None else values[k]

    def _common(self, overrides: dict) -> dict:
        common = {n: v for n, v in self.base.items() if n not in self.per_replica}
        if self.num_steps is not None:
            common["num_steps"] = self.num_steps
        return common | overrides

    def single(self, k: int = 0, **overrides):
        """The single model of replica ``k``: its p, seed and hyperparameters."""
        hp = {n: self.values(n, k) for n in self.per_replica}
        args = {"seed": SEEDS[k]} | hp | self._common(overrides)
        return self.cls(self.hidden_size, NUM_SEQUENCES[k], **args)

    def ensemble(self, **overrides):
        """``K = 3`` replicas with different p, seeds and per-replica hyperparameters."""
        hp = {n: self.values(n) for n in self.per_replica}
        args = {"seed": list(SEEDS)} | hp | self._common(overrides)
        return self.cls(self.hidden_size, list(NUM_SEQUENCES), **args)

    def other_settings(self) -> dict:
        """A non-default, valid value of every shared setting."""
        out = {}
        for name in self.settings:
            values = [v for v in _setting_values(self.options[name], self.default(name))]
            others = [v for v in values if v != self.default(name)]
            if others:
                out[name] = others[0]
        return out


def _distinct_values(option, base, n: int) -> list:
    """``n`` distinct values of a numeric option inside its range, the first ``base``."""
    out: list = []
    for k in range(n):
        candidates = []
        if isinstance(base, int | float) and not isinstance(base, bool):
            candidates += [base * (1 + 0.5 * k), base / (1 + k), base + 0.1 * k]
        lo, hi = option.low, option.high
        if math.isfinite(lo) and math.isfinite(hi):
            candidates += [lo + (hi - lo) * (k + 1) / (n + 1)]
        elif math.isfinite(lo):
            candidates += [lo + 1.0 + k]
        elif math.isfinite(hi):
            candidates += [hi - 1.0 - k]
        else:
            candidates += [1.0 + k]
        for value in candidates:
            value = int(round(value)) if option.kind is int else float(value)
            if option.in_range(value) and value not in out:
                out.append(value)
                break
        else:
            raise AssertionError(f"found no in-range value of {option.name} for replica {k}")
    return out


def _setting_values(option, default) -> list:
    """The values of a shared setting worth checking: every choice, both booleans, or the
    default and one other in-range number (``None`` too where nullable)."""
    if option.kind is str:
        return list(option.choices)
    if option.kind is bool:
        return [True, False]
    values = [default] if default is not None or option.nullable else []
    if option.nullable and None not in values:
        values.append(None)
    lo = option.low if math.isfinite(option.low) else 0.0
    if option.kind is int:
        candidates = [int(default) + 1] if isinstance(default, int) else []
        candidates += [int(lo) + 2, int(lo) + 1]
    else:
        candidates = [default * 10, default + 1.0] if isinstance(default, float) else []
        candidates += [lo + 1.0, lo + 0.5]
    for value in candidates:
        if option.in_range(value) and value not in values and not (option.open_low and value == lo):
            values.append(value)
            break
    return values


# --------------------------------------------------------------------------------------
# Shared machinery: data, training, comparison
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _trajectories(ps: tuple, seeds: tuple, steps: int, width: int) -> Tensor:
    """The data module's targets for these replicas, ``steps`` long (the data's 60 points
    mirrored where more are asked), padded to ``width``: (T, K, width, 2)."""
    data = TrajectoryDataModule(list(ps), seed=list(seeds), pad_to=width)
    data.setup()
    x = data.targets
    while x.shape[0] < steps:
        x = torch.cat([x, x.flip(0)])
    return x[:steps].contiguous()


def _targets(model) -> Tensor:
    width = model.mask.shape[1]
    ps, seeds = tuple(model.num_sequences), tuple(model.seeds)
    return _trajectories(ps, seeds, model.num_steps, width).clone()


def _batch(model, targets: Tensor) -> dict[str, Tensor]:
    return {"targets": targets, "mask": model.mask}


def _closed_form(model) -> bool:
    """Trained otherwise than by the Trainer's gradient steps (the ESN's ridge fit)."""
    return not compiles(model)


CLOSED_FORM_NOTE = (
    "closed-form fit: compared after each model's own fit, not by gradients and Adam steps"
)


class _RepeatBatch(torch.utils.data.IterableDataset):
    def __init__(self, batch):
        self.batch = batch

    def __iter__(self):
        while True:
            yield dict(self.batch)


def _trainer_fit(model, targets: Tensor, steps: int):
    """A real Lightning Trainer, ``steps`` full-batch steps on ``targets``."""
    trainer = make_trainer(steps, accelerator="cpu")
    model.train()  # as a Trainer expects it (generate() and the checks may leave it in eval)
    loader = DataLoader(_RepeatBatch(_batch(model, targets)), batch_size=None)
    trainer.fit(model, train_dataloaders=loader)
    return trainer


def _optimizer(model):
    """The optimiser of the module's own ``configure_optimizers`` (any Lightning form)."""
    out = model.configure_optimizers()
    while not isinstance(out, torch.optim.Optimizer):
        if isinstance(out, dict):
            out = out["optimizer"]
        elif isinstance(out, list | tuple) and out:
            out = out[0]
        else:
            raise AssertionError(f"configure_optimizers returned no optimiser: {out!r}")
    return out


def _train(model, targets: Tensor, steps: int) -> None:
    """``steps`` Adam steps of the module's own optimiser on its ``training_step`` loss,
    or, for a closed-form model, its own fit in a real Trainer."""
    if _closed_form(model):
        _trainer_fit(model, targets, steps)
        return
    optimizer = _optimizer(model)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model.training_step(_batch(model, targets), 0).backward()
        optimizer.step()


def _gradients(model, targets: Tensor) -> dict[tuple[int, str], Tensor | None]:
    """Gradients of the ``training_step`` loss: (replica, tensor name) → grad."""
    model.zero_grad(set_to_none=True)
    model.train()
    model.training_step(_batch(model, targets), 0).backward()
    return {(k, n): t.grad for k, rep in enumerate(model.replicas) for n, t in rep.items()}


def _outputs(model, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Training-mode predictions (T, K, P, 2) on ``targets`` and the per-replica losses."""
    model.train()
    with torch.no_grad():
        pred = model(targets)
        return pred, model.replica_losses(pred, targets)


def _real(t: Tensor, shape) -> Tensor:
    """The leading, unpadded part of ``t`` of the given shape."""
    return t[tuple(slice(0, n) for n in shape)]


def _state_names(model) -> set[str]:
    return set(model.init_state(torch.Generator().manual_seed(0), 1))


def _padded_parts(model) -> list[tuple[int, str, tuple]]:
    """(replica, tensor name, index of its padded part) for every padded replica."""
    width = model.mask.shape[1]
    axes = dict.fromkeys(_state_names(model), 0) | dict(model.per_sequence)
    out = []
    for k, p in enumerate(model.num_sequences):
        if p < width:
            for name, axis in axes.items():
                index = (slice(None),) * axis + (slice(p, None),)
                out.append((k, name, index))
    return out


def _expect(condition, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _close(actual, expected, what: str, tol: dict) -> None:
    try:
        torch.testing.assert_close(actual, expected, **tol)
    except AssertionError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise AssertionError(f"{what}: {'; '.join(lines)}") from None


def _equal_models(a, b, what: str) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    _expect(list(sa) == list(sb), f"{what}: state dict keys {list(sa)} vs {list(sb)}")
    for name in sa:
        _close(sa[name], sb[name], f"{what}: {name}", EXACT)


@contextmanager
def _quiet():
    """Lightning's banners and the 'self.log without a Trainer' warning, silenced."""
    with quiet_lightning(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*self.log\\(\\)` but the `self.trainer`.*")
        warnings.filterwarnings("ignore", ".*configure_optimizers` returned `None`.*")
        yield


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------

#: name → check function, in the order :func:`check_model` runs them.
CHECKS: dict[str, Callable] = {}


def _rule(applies: Callable[[_Spec], str | None] | None = None):
    """Register a check. ``applies(spec)`` returns None, or why the rule does not apply."""

    def register(fn):
        name = fn.__name__

        @functools.wraps(fn)
        def check(cls, **kwargs):
            spec = _Spec.of(cls, kwargs)
            reason = applies(spec) if applies is not None else None
            if reason:
                raise SkipCheck(name, reason)
            try:
                with _quiet():
                    return fn(spec)
            except (ContractError, SkipCheck):
                raise
            except Exception as exc:  # an AssertionError, or the model crashing
                observed = one_line(exc)
                if not isinstance(exc, AssertionError):
                    observed = f"{type(exc).__name__}: {observed}"
                raise ContractError(name, _label(cls, kwargs), observed) from exc

        check.applies = applies
        CHECKS[name] = check
        return check

    return register


_CLOSED_FORM: dict[tuple, bool] = {}


def _is_closed_form(spec: _Spec) -> bool:
    """Whether the class is a closed-form model (False if it cannot even be built)."""
    key = (spec.cls, spec.hidden_size, spec.num_steps, repr(sorted(spec.base.items())))
    if key not in _CLOSED_FORM:
        try:
            with _quiet():
                _CLOSED_FORM[key] = _closed_form(spec.single(0))
        except Exception:
            _CLOSED_FORM[key] = False
    return _CLOSED_FORM[key]


def _only_closed_form(spec: _Spec) -> str | None:
    if not _is_closed_form(spec):
        return f"{spec.name} trains by gradient (the rule is for closed-form fits)"
    return None


def _only_teacher_forcing(spec: _Spec) -> str | None:
    option = spec.options.get("teacher_forcing")
    if option is None or not {"none", "train", "always"} <= set(option.choices):
        return f"{spec.name} has no teacher_forcing setting"
    return None


def _only_with_settings(spec: _Spec) -> str | None:
    return None if spec.settings else f"{spec.name} has no shared settings"


# --------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------


@_rule()
def check_constructor_options(spec: _Spec):
    """Constructor arguments = declared options + STRUCTURE; options recorded and stored."""
    cls = spec.cls
    declared = spec.options
    structure = set(getattr(cls, "STRUCTURE", ())) | {"pad_to"}
    by_bases = set()
    for klass in cls.__mro__:
        by_bases |= {o.name for o in vars(klass).get("OPTIONS", ())}
    ignored = set(getattr(cls, "ignored_options", ()))
    sneaked = ignored - by_bases
    _expect(
        not sneaked,
        f"ignored_options {sorted(sneaked)} are not options any class of the MRO declares",
    )
    params = _init_parameters(cls)
    for name in params:
        _expect(
            name in declared or name in structure or name in ignored,
            f"constructor argument {name!r} is neither a declared option "
            f"({', '.join(declared)}) nor a STRUCTURE argument ({', '.join(sorted(structure))})",
        )
    for name in declared:
        _expect(name in params, f"declared option {name!r} is no constructor argument")
    model = spec.ensemble()
    hp = dict(model.hparams)
    for name in declared:
        _expect(name in hp, f"option {name!r} is not recorded in hparams: {sorted(hp)}")
    for name in spec.per_replica:
        if name == "lr":
            continue
        _expect(
            name in getattr(model, "replica_hparams", ()),
            f"per-replica option {name!r} is not in replica_hparams",
        )
        buffer = getattr(model, name)
        expected = torch.tensor(spec.values(name), dtype=buffer.dtype).view(-1, 1, 1)
        _close(buffer, expected, f"per-replica buffer {name}", TIGHT)
    if "lr" in spec.per_replica:
        lrs = [float(v) for v in spec.values("lr")]
        _expect(model.lrs == lrs, f"lrs {model.lrs} are not the learning rates given ({lrs})")


def _expect_refused(build: Callable, what: str, name: str, allow_type_error=False) -> None:
    errors = (UsageError, TypeError) if allow_type_error else (UsageError,)
    try:
        build()
    except errors as exc:
        message = str(exc)
        if isinstance(exc, UsageError):
            _expect(name in message, f"{what}: the UsageError does not name {name!r}: {message}")
            _expect("\n" not in message, f"{what}: the UsageError is not one line: {message!r}")
        return
    except Exception as exc:
        raise AssertionError(f"{what} raised {type(exc).__name__}, not UsageError: {exc}") from exc
    raise AssertionError(f"{what} was accepted (expected a UsageError naming {name!r})")


def _bad_values(option) -> list:
    kind = option.kind
    if kind is str:
        return ["__not_a_choice__", 1]
    if kind is bool:
        return ["true", 1]
    bad = [] if option.nullable else [None]
    bad += ["1"]
    if math.isfinite(option.low):
        bad.append(kind(option.low - 1))
        if option.open_low:
            bad.append(kind(option.low))
    if math.isfinite(option.high):
        bad.append(kind(option.high + 1))
    if kind is float:
        bad += [math.nan, math.inf]
    else:
        bad.append(2.5)
    return bad


def _good_values(option, spec: _Spec) -> list:
    if option.per_replica:
        good = list(spec.values(option.name))
    else:
        good = _setting_values(option, spec.default(option.name))
    if option.kind in (int, float):
        if math.isfinite(option.low) and not option.open_low:
            good.append(option.kind(option.low))
        if math.isfinite(option.high):
            good.append(option.kind(option.high))
    return good


@_rule()
def check_option_ranges(spec: _Spec):
    """Out-of-range values raise UsageError naming the option; in-range values build."""
    cls, H = spec.cls, spec.hidden_size

    def build(p=1, **kw):
        args = spec._common({}) | kw
        return cls(H, p, **args)

    for name, option in spec.options.items():
        for value in _bad_values(option):
            _expect_refused(lambda v=value, n=name: build(**{n: v}), f"{name}={value!r}", name)
        if option.per_replica:
            good, bad = spec.values(name, 0), _bad_values(option)[-1]
            _expect_refused(
                lambda n=name, g=good, b=bad: build([1, 1], seed=[0, 1], **{n: [g, b]}),
                f"{name}=[{good!r}, {bad!r}] (one value per replica)",
                name,
            )
        for value in _good_values(option, spec):
            try:
                model = build(**{name: value})
            except Exception as exc:
                raise AssertionError(f"in-range {name}={value!r} was refused: {exc}") from exc
            recorded = model.hparams.get(name)
            _expect(recorded == value, f"{name}={value!r} is recorded as {recorded!r}")
        for old, new in option.legacy:
            legacy, modern = build(**{name: old}), build(**{name: new})
            _expect(
                legacy.hparams[name] == new,
                f"legacy {name}={old!r} is recorded as {legacy.hparams[name]!r}, not {new!r}",
            )
            targets = _targets(modern)
            _close(
                _outputs(legacy, targets)[0],
                _outputs(modern, targets)[0],
                f"legacy {name}={old!r} against {new!r}",
                EXACT,
            )
    structure = {
        "hidden_size": [0, 1.5, -1],
        "num_sequences": [0, 251, 1.5],
        "seed": [-1, 2**64, 1.5],
        "learn_initial_state": ["yes", 1],
    }
    if _accepts(cls, "num_steps"):
        structure["num_steps"] = [0, 1.5]
    for name, values in structure.items():
        for value in values:
            if name == "hidden_size":
                call = functools.partial(cls, value, 1, **spec._common({}))
            elif name == "num_sequences":
                call = functools.partial(cls, H, value, **spec._common({}))
            else:
                call = functools.partial(build, **{name: value})
            _expect_refused(call, f"{name}={value!r}", name)
    _expect_refused(lambda: build(no_such_option=1.0), "no_such_option=1.0", "no_such_option", True)


@_rule()
def check_hparams_round_trip(spec: _Spec):
    """``save_hyperparameters`` records every argument; ``cls(**hparams)`` rebuilds."""
    settings = spec.other_settings()
    for model, given in (
        (spec.ensemble(**settings), {n: spec.values(n) for n in spec.per_replica}),
        (spec.single(1, **settings), {n: spec.values(n, 1) for n in spec.per_replica}),
    ):
        hp = dict(model.hparams)
        for name in _init_parameters(spec.cls):
            _expect(name in hp, f"constructor argument {name!r} is not in hparams {sorted(hp)}")
        for name, value in (given | settings).items():
            _expect(hp[name] == value, f"hparams[{name!r}] is {hp[name]!r}, given {value!r}")
        _expect(hp["hidden_size"] == spec.hidden_size, f"hidden_size recorded {hp['hidden_size']}")
        rebuilt = spec.cls(**hp)
        _expect(dict(rebuilt.hparams) == hp, f"rebuilt hparams {dict(rebuilt.hparams)} vs {hp}")
        _equal_models(rebuilt, model, "cls(**model.hparams)")
        _close(rebuilt.generate(), model.generate(), "generate() after cls(**hparams)", EXACT)


@_rule()
def check_generate_shapes(spec: _Spec):
    """(T, p, 2) for a single model, (T, K, P, 2) for an ensemble; mode preserved."""
    single = spec.single(1)
    T, p = single.num_steps, NUM_SEQUENCES[1]
    for training in (True, False):
        single.train(training)
        out = single.generate()
        _expect(single.training is training, f"generate() left training={single.training}")
        _expect(tuple(out.shape) == (T, p, 2), f"single generate() shape {tuple(out.shape)}")
        _expect(not out.requires_grad, "generate() output requires grad")
        _expect(bool(torch.isfinite(out).all()), "generate() is not finite")
    single.train()
    with torch.no_grad():
        shape = tuple(single(_targets(single)).shape)
    _expect(shape == (T, 1, p, 2), f"single forward shape {shape}, expected {(T, 1, p, 2)}")
    ensemble = spec.ensemble()
    K, P = len(SEEDS), max(NUM_SEQUENCES)
    out = ensemble.generate()
    _expect(tuple(out.shape) == (T, K, P, 2), f"ensemble generate() shape {tuple(out.shape)}")
    _expect(bool(torch.isfinite(out).all()), "ensemble generate() is not finite")
    mask = [[i < q for i in range(P)] for q in NUM_SEQUENCES]
    _expect(ensemble.mask.tolist() == mask, f"mask {ensemble.mask.tolist()}, expected {mask}")
    _expect(
        ensemble.num_replicas == K and ensemble.num_sequences == list(NUM_SEQUENCES),
        f"num_replicas {ensemble.num_replicas}, num_sequences {ensemble.num_sequences}",
    )


@_rule()
def check_generate_determinism(spec: _Spec):
    """The same seed, the same model (whatever the global RNG); another seed, another."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        a = spec.single(1)
        torch.manual_seed(1)
        b = spec.single(1)
    finally:
        torch.random.set_rng_state(state)
    _equal_models(a, b, "two models with the same seed")
    first = a.generate()
    _close(first, b.generate(), "generate() of two models with the same seed", EXACT)
    _close(a.generate(), first, "generate() called twice", EXACT)
    other = spec.single(1, seed=SEEDS[1] + 100)
    _expect(not torch.equal(other.generate(), first), "another seed generates the same")
    a, b = spec.ensemble(), spec.ensemble()
    _close(a.generate(), b.generate(), "generate() of two ensembles with the same seeds", EXACT)


@_rule()
def check_initial_state(spec: _Spec):
    """learn_initial_state both ways: the initial state is a trained parameter or not."""
    note = None
    for learn in (True, False):
        model = spec.single(1, learn_initial_state=learn)
        states = _state_names(model)
        frozen = set(getattr(model, "frozen", ()))
        closed = _closed_form(model)
        rep = model.replicas[0]
        for name, t in rep.items():
            if closed:
                expected = False
            elif name in states:
                expected = learn and name not in frozen
            else:
                expected = name not in frozen
            _expect(
                t.requires_grad == expected,
                f"learn_initial_state={learn}: {name}.requires_grad is {t.requires_grad}",
            )
        for name, buf in model.named_buffers():
            _expect(not buf.requires_grad, f"buffer {name} requires grad")
        before = {n: t.detach().clone() for n, t in rep.items()}
        targets = _targets(model)
        if closed:
            note = "closed-form fit: no tensor takes a gradient; the fit leaves the states"
            _train(model, targets, ADAM_STEPS)
            for name in states:
                _close(rep[name], before[name], f"initial state {name} after the fit", EXACT)
            continue
        grads = _gradients(model, targets)
        for name, t in rep.items():
            g = grads[(0, name)]
            if t.requires_grad:
                _expect(g is not None and g.abs().sum() > 0, f"trainable {name} gets no gradient")
            else:
                _expect(g is None, f"untrained {name} gets a gradient")
        model.zero_grad(set_to_none=True)
        _train(model, targets, 2)
        for name, t in rep.items():
            if t.requires_grad:
                _expect(not torch.equal(t, before[name]), f"trainable {name} did not change")
            else:
                _close(t, before[name], f"untrained {name} after 2 Adam steps", EXACT)
    return note


def _compare_replicas(spec: _Spec, steps: int, settings: dict, what: str = "") -> bool:
    """Replica k of an ensemble against the single model with its seed; True if closed-form."""
    ensemble = spec.ensemble(learn_initial_state=True, **settings)
    singles = [spec.single(k, learn_initial_state=True, **settings) for k in range(len(SEEDS))]
    targets = _targets(ensemble)
    alone = [targets[:, k : k + 1, :p].contiguous() for k, p in enumerate(NUM_SEQUENCES)]
    closed = _closed_form(ensemble)
    for k, single in enumerate(singles):
        for name, t in single.replicas[0].items():
            start = _real(ensemble.replicas[k][name], t.shape)
            _close(start, t, f"{what}replica {k}'s initial {name} vs its single model", EXACT)
        _expect(
            ensemble.lrs[k] == single.lrs[0],
            f"{what}replica {k}'s lr {ensemble.lrs[k]} vs {single.lrs[0]}",
        )
        for name in getattr(single, "replica_hparams", ()):
            _close(getattr(ensemble, name)[k], getattr(single, name)[0], f"{what}{name}", EXACT)
    pred, losses = _outputs(ensemble, targets)
    for k, (single, p) in enumerate(zip(singles, NUM_SEQUENCES, strict=True)):
        pred_k, loss_k = _outputs(single, alone[k])
        _close(pred[:, k, :p], pred_k[:, 0], f"{what}replica {k}'s outputs", TIGHT)
        _close(losses[k], loss_k[0], f"{what}replica {k}'s loss", TIGHT)
    if not closed:
        grads = _gradients(ensemble, targets)
        for k, single in enumerate(singles):
            single_grads = _gradients(single, alone[k])
            for name, t in single.replicas[0].items():
                g, g_k = grads[(k, name)], single_grads[(0, name)]
                _expect((g is None) == (g_k is None), f"{what}replica {k}: {name} grad presence")
                if g is not None:
                    _close(_real(g, t.shape), g_k, f"{what}replica {k}'s {name} grad", GRADIENT)
        ensemble.zero_grad(set_to_none=True)
        for single in singles:
            single.zero_grad(set_to_none=True)
    if steps:
        _train(ensemble, targets, steps)
        for single, target in zip(singles, alone, strict=True):
            _train(single, target, steps)
        pred, _ = _outputs(ensemble, targets)
        after = "its fit" if closed else f"{steps} Adam steps"
        for k, (single, p) in enumerate(zip(singles, NUM_SEQUENCES, strict=True)):
            pred_k, _ = _outputs(single, alone[k])
            _close(pred[:, k, :p], pred_k[:, 0], f"{what}replica {k} after {after}", TRAINED)
            for name, t in single.replicas[0].items():
                trained = _real(ensemble.replicas[k][name], t.shape)
                _close(trained, t, f"{what}replica {k}'s {name} after {after}", TRAINED)
    return closed


@_rule()
def check_replica_equivalence(spec: _Spec):
    """Replica k = the single model with its seed: outputs, loss, gradients, Adam steps."""
    closed = _compare_replicas(spec, ADAM_STEPS, {})
    return CLOSED_FORM_NOTE if closed else None


@_rule(_only_with_settings)
def check_shared_settings(spec: _Spec):
    """Every value of every shared setting: recorded, and replicas still equivalent."""
    closed = False
    for name in spec.settings:
        option = spec.options[name]
        for value in _setting_values(option, spec.default(name)):
            model = spec.single(0, **{name: value})
            recorded = model.hparams[name]
            _expect(recorded == value, f"{name}={value!r} is recorded as {recorded!r}")
            closed = _compare_replicas(spec, 1, {name: value}, f"{name}={value!r}: ")
    return CLOSED_FORM_NOTE if closed else None


def _only_hand_written_bptt(spec: _Spec) -> str | None:
    if not getattr(spec.cls, "hand_written_bptt", False):
        return "hand_written_bptt is off: the time loop is differentiated by autograd"
    if not bptt_applies(spec.cls):
        return "the class changes a method its bptt_loop relies on: autograd runs"
    limit = getattr(spec.cls, "bptt_max_sequences", None)
    if limit is not None and limit < len(NUM_SEQUENCES) * max(NUM_SEQUENCES):
        return f"bptt_max_sequences={limit} is below the check's ensemble"
    return None


def _fast_against_eager(spec: _Spec, steps: int, settings: dict, what: str = "") -> bool:
    """The ensemble through its hand-written BPTT against the same ensemble through
    autograd; True if closed-form (outputs only)."""
    fast = spec.ensemble(learn_initial_state=True, **settings)
    eager = spec.ensemble(learn_initial_state=True, **settings)
    eager.hand_written_bptt = False
    _equal_models(fast, eager, f"{what}the two copies")
    targets = _targets(fast)
    for mode in ("train", "eval"):
        for m in (fast, eager):
            m.train(mode == "train")
        with torch.no_grad():
            pred, pred_eager = fast(targets), eager(targets)
        _close(pred, pred_eager, f"{what}{mode}-mode outputs vs autograd's loop", TIGHT)
    _close(fast.generate(), eager.generate(), f"{what}generate() vs autograd's loop", TIGHT)
    pred, losses = _outputs(fast, targets)
    _close(losses, _outputs(eager, targets)[1], f"{what}losses vs autograd's loop", TIGHT)
    if _closed_form(fast):
        return True
    grads, grads_eager = _gradients(fast, targets), _gradients(eager, targets)
    for key, g in grads.items():
        g_eager = grads_eager[key]
        _expect((g is None) == (g_eager is None), f"{what}{key[1]} grad presence")
        if g is not None:
            k, name = key
            _close(g, g_eager, f"{what}replica {k}'s {name} grad vs autograd's", GRADIENT)
    for m in (fast, eager):
        m.zero_grad(set_to_none=True)
    if steps:
        _train(fast, targets, steps)
        _train(eager, targets, steps)
        pred, _ = _outputs(fast, targets)
        _close(pred, _outputs(eager, targets)[0], f"{what}outputs after {steps} Adam steps",
               TRAINED)  # fmt: skip
        for k, (rep, rep_eager) in enumerate(zip(fast.replicas, eager.replicas, strict=True)):
            for name, t in rep.items():
                _close(t, rep_eager[name], f"{what}replica {k}'s {name} after {steps} Adam "
                       "steps", TRAINED)  # fmt: skip
    return False


@_rule(_only_hand_written_bptt)
def check_hand_written_bptt(spec: _Spec):
    """The hand-written BPTT against autograd: outputs, losses, gradients, Adam steps."""
    closed = _fast_against_eager(spec, ADAM_STEPS, {})
    for name in spec.settings:
        for value in _setting_values(spec.options[name], spec.default(name)):
            _fast_against_eager(spec, 1, {name: value}, f"{name}={value!r}: ")
    return "closed-form fit: compared the outputs and losses only" if closed else None


@_rule()
def check_padding(spec: _Spec):
    """Padded sequences: zero, out of the loss, no gradient, no influence on real ones."""
    model = spec.ensemble(learn_initial_state=True)
    closed = _closed_form(model)
    parts = _padded_parts(model)
    _expect(parts, "the ensemble has no padded tensors (expected padded initial states)")
    for k, name, index in parts:
        padded = model.replicas[k][name][index]
        _expect(not padded.count_nonzero(), f"padded {name} of replica {k} starts non-zero")
    targets = _targets(model)
    pred, losses = _outputs(model, targets)
    garbage, noisy_targets = pred.clone(), targets.clone()
    for k, p in enumerate(NUM_SEQUENCES):
        garbage[:, k, p:] = 1e3
        noisy_targets[:, k, p:] = -1e3
        with torch.no_grad():
            leaked = model.replica_losses(garbage, targets)
            leaked_targets = model.replica_losses(pred, noisy_targets)
        _close(leaked[k], losses[k], f"padded predictions of replica {k} leak into its loss", TIGHT)
        _close(
            leaked_targets[k], losses[k], f"padded targets of replica {k} leak into its loss", TIGHT
        )
        own = (pred[:, k, :p] - targets[:, k, :p]).square().mean()
        _close(losses[k], own, f"replica {k}'s loss is not the MSE of its {p} sequences", TIGHT)
    if not closed:
        grads = _gradients(model, targets)
        for k, name, index in parts:
            g = grads[(k, name)]
            if g is not None:
                leak = g[index].abs().max().item() if g[index].numel() else 0.0
                _expect(leak == 0, f"padded {name} of replica {k} receives gradient ({leak:.3g})")
        model.zero_grad(set_to_none=True)
    # Noise in the padding changes nothing real.
    noisy = spec.ensemble(learn_initial_state=True)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for k, name, index in parts:
            t = noisy.replicas[k][name]
            t[index] = torch.randn(t[index].shape, generator=g)
    noisy_pred, noisy_losses = _outputs(noisy, targets)
    for k, p in enumerate(NUM_SEQUENCES):
        _close(
            noisy_pred[:, k, :p],
            pred[:, k, :p],
            f"noise in the padding changes replica {k}'s real outputs",
            TIGHT,
        )
    _close(noisy_losses, losses, "noise in the padding changes the losses", TIGHT)
    if closed:
        _train(model, targets, 1)
        _train(noisy, targets, 1)
        for k, rep in enumerate(model.replicas):
            for name, t in rep.items():
                if name in _state_names(model) or name in model.per_sequence:
                    continue
                _close(
                    noisy.replicas[k][name], t, f"noise in the padding changes {name}'s fit", TIGHT
                )
        return "closed-form fit: compared the fits with and without noise in the padding"
    noisy_grads = _gradients(noisy, targets)
    for k, single_p in enumerate(NUM_SEQUENCES):
        for name, t in model.replicas[k].items():
            g, g_noisy = grads[(k, name)], noisy_grads[(k, name)]
            if g is None:
                continue
            shape = list(t.shape)
            if name in _state_names(model):
                shape[0] = single_p
            elif name in model.per_sequence:
                shape[model.per_sequence[name]] = single_p
            _close(
                _real(g_noisy, shape),
                _real(g, shape),
                f"noise in the padding changes replica {k}'s {name} gradient",
                GRADIENT,
            )
    _train(model, targets, 3)
    for k, name, index in parts:
        padded = model.replicas[k][name][index]
        _expect(not padded.count_nonzero(), f"padded {name} of replica {k} moved in training")


@_rule()
def check_replica_export(spec: _Spec):
    """``replica(k)`` is the single model replica k became: same seed, p, generate()."""
    ensemble = spec.ensemble(learn_initial_state=True)
    targets = _targets(ensemble)
    _train(ensemble, targets, 2)
    together = ensemble.generate()
    for k, p in enumerate(NUM_SEQUENCES):
        single = ensemble.replica(k)
        _expect(type(single) is spec.cls, f"replica({k}) is a {type(single).__name__}")
        _expect(single.num_replicas == 1, f"replica({k}) has {single.num_replicas} replicas")
        _expect(single.num_sequences == [p], f"replica({k}).num_sequences {single.num_sequences}")
        _expect(single.seeds == [SEEDS[k]], f"replica({k}).seeds {single.seeds}")
        _expect(single.lrs == [ensemble.lrs[k]], f"replica({k}).lrs {single.lrs}")
        for name in spec.per_replica:
            value = single.hparams[name]
            _expect(
                math.isclose(value, spec.values(name, k), rel_tol=1e-6),
                f"replica({k}).hparams[{name!r}] is {value!r}, not {spec.values(name, k)!r}",
            )
        fresh = spec.single(k)
        for name, t in fresh.replicas[0].items():
            shape = tuple(single.replicas[0][name].shape)
            _expect(shape == tuple(t.shape), f"replica({k})'s {name} has shape {shape}")
        _close(single.generate(), together[:, k, :p], f"replica({k}).generate()", {})
    try:
        ensemble.replica(len(SEEDS))
    except IndexError:
        pass
    else:
        raise AssertionError(f"replica({len(SEEDS)}) of {len(SEEDS)} replicas did not raise")


@_rule()
def check_checkpoint_round_trip(spec: _Spec):
    """``load_from_checkpoint`` gives bit for bit the same ``generate()``."""
    cls, spec = spec.cls, spec.shortened()
    model = spec.ensemble(learn_initial_state=True, **spec.other_settings())
    targets = _targets(model)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _trainer_fit(model, targets, 2)
        paths = {"trainer.save_checkpoint": Path(tmp, "trainer.ckpt")}
        trainer.save_checkpoint(paths["trainer.save_checkpoint"])
        paths["module.save_checkpoint"] = Path(tmp, "module.ckpt")
        model.save_checkpoint(paths["module.save_checkpoint"])
        single = model.replica(0)
        paths["replica(0).save_checkpoint"] = Path(tmp, "single.ckpt")
        single.save_checkpoint(paths["replica(0).save_checkpoint"])
        for how, path in paths.items():
            source = single if how.startswith("replica") else model
            reloaded = cls.load_from_checkpoint(path, map_location="cpu")
            _expect(type(reloaded) is cls, f"{how}: reloaded a {type(reloaded).__name__}")
            _expect(
                dict(reloaded.hparams) == dict(source.hparams),
                f"{how}: hparams {dict(reloaded.hparams)} vs {dict(source.hparams)}",
            )
            _equal_models(reloaded, source, how)
            _close(reloaded.generate(), source.generate(), f"{how}: generate()", EXACT)
    other = spec.cls(**(dict(model.hparams) | {"seed": [s + 100 for s in SEEDS]}))
    _expect(not torch.equal(other.generate(), model.generate()), "other seeds generate the same")
    other.load_state_dict(model.state_dict())
    _close(other.generate(), model.generate(), "load_state_dict into other seeds", EXACT)


@_rule()
def check_training_lowers_loss(spec: _Spec):
    """A few dozen steps of a real Trainer lower every replica's loss."""
    model = spec.shortened().ensemble(learn_initial_state=True)
    targets = _targets(model)
    _, before = _outputs(model, targets)
    trainer = _trainer_fit(model, targets, TRAINING_STEPS)
    _, after = _outputs(model, targets)
    _expect(
        bool((after < before).all()),
        f"the loss did not fall in {TRAINING_STEPS} steps: {before.tolist()} -> {after.tolist()}",
    )
    logged = trainer.callback_metrics.get("train/loss")
    _expect(
        logged is not None, f"no train/loss in callback_metrics {sorted(trainer.callback_metrics)}"
    )
    _expect(bool(torch.isfinite(logged)), f"train/loss is {logged}")
    return "its closed-form fit in a real Trainer" if _closed_form(model) else None


@_rule(_only_closed_form)
def check_closed_form_fit(spec: _Spec):
    """The fit is a minimum of the training loss, and refitting changes nothing."""
    model = spec.ensemble()
    targets = _targets(model)
    before = {
        (k, n): t.detach().clone() for k, r in enumerate(model.replicas) for n, t in r.items()
    }

    def loss_gradient(names) -> float:
        tensors = [model.replicas[k][n] for k, n in names]
        for t in tensors:
            t.requires_grad_(True)
        try:
            model.eval()
            loss = model.replica_losses(model(), targets).sum()
            grads = torch.autograd.grad(loss, tensors)
        finally:
            for t in tensors:
                t.requires_grad_(False)
        return max(g.abs().max().item() for g in grads)

    _, loss_before = _outputs(model, targets)
    _trainer_fit(model, targets, 1)
    _, loss_after = _outputs(model, targets)
    _expect(bool((loss_after < loss_before).all()), f"the fit did not lower the loss: {loss_after}")
    changed = [key for key, t in before.items() if not torch.equal(_tensor(model, key), t)]
    _expect(changed, "the fit changed no tensor")
    fitted = {key: _tensor(model, key).detach().clone() for key in changed}
    at_fit = loss_gradient(changed)
    with torch.no_grad():
        for key in changed:
            _tensor(model, key).copy_(before[key])
    at_start = loss_gradient(changed)
    _expect(
        at_fit <= 1e-2 * at_start + 1e-6,
        f"the loss is not stationary at the fit: |grad| {at_fit:.3g}, {at_start:.3g} before it",
    )
    with torch.no_grad():
        for key in changed:
            _tensor(model, key).copy_(fitted[key])
    _trainer_fit(model, targets, 1)
    for key in changed:
        _close(_tensor(model, key), fitted[key], f"a second fit moved {key[1]}", TIGHT)


def _tensor(model, key):
    k, name = key
    return model.replicas[k][name]


@_rule(_only_teacher_forcing)
def check_teacher_forcing(spec: _Spec):
    """none / train / always feed the target where the package says they do."""
    models = {mode: spec.single(1, teacher_forcing=mode) for mode in ("none", "train", "always")}
    free, train, always = models.values()
    targets = _targets(free)
    with torch.no_grad():
        for m in models.values():
            m.train()
        _close(free(targets), free(), "none: training with targets is not closed loop", EXACT)
        _close(train(targets), always(targets), "train and always differ in training", EXACT)
        forced, closed = train(targets), free(targets)
        _close(forced[0], closed[0], "train: the first input is not zero", EXACT)
        _expect(not torch.allclose(forced[1], closed[1]), "train: training is not teacher-forced")
        for m in models.values():
            m.eval()
        _close(train(targets), free(targets), "train: eval mode is not closed loop", EXACT)
        _expect(
            not torch.allclose(always(targets)[1], free(targets)[1]),
            "always: eval mode with targets is not teacher-forced",
        )
    for mode, m in models.items():
        _close(m.generate(), free.generate(), f"{mode}: generate() is not free generation", EXACT)


# --------------------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------------------


def applicable_checks(cls, **kwargs) -> Iterator[tuple[str, Callable]]:
    """(name, check) for every rule that applies to ``cls``; each ``check(cls, **kwargs)``."""
    spec = _Spec.of(cls, kwargs)
    for name, check in CHECKS.items():
        if check.applies is None or not check.applies(spec):
            yield name, check


def check_model(cls, *, checks: Iterable[str] | None = None, **kwargs) -> ContractReport:
    """Run every rule (or the named ``checks``) against ``cls``.

    ``kwargs`` (``hidden_size``, ``num_steps``, model options) go to every check. Returns
    a :class:`ContractReport`; raises :class:`ContractError` at the first broken rule.
    """
    names = list(CHECKS) if checks is None else list(checks)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {', '.join(CHECKS)}")
    report = ContractReport(_label(cls, kwargs))
    start = time.perf_counter()
    for name in names:
        try:
            note = CHECKS[name](cls, **kwargs)
        except SkipCheck as skip:
            report.skipped[name] = skip.reason
            continue
        report.passed.append(name)
        if note:
            report.notes[name] = note
    report.seconds = time.perf_counter() - start
    return report


class _PytestCheck:
    """A check bound to its kwargs, for pytest: ``check(model)``; SkipCheck → pytest.skip."""

    def __init__(self, name: str, check: Callable, kwargs: dict):
        self.name, self.check, self.kwargs = name, check, kwargs

    def __call__(self, model):
        import pytest  # only a test suite calls this: the package does not need pytest

        try:
            return self.check(model, **self.kwargs)
        except SkipCheck as skip:
            pytest.skip(skip.reason)

    def __repr__(self) -> str:
        return self.name


def parametrize_with_checks(models: Iterable, *, expected_failures: dict | None = None):
    """``pytest.mark.parametrize("model, check", ...)`` over every (model, applicable rule).

    ``models``: classes, or ``(cls, kwargs)`` pairs. The test calls ``check(model)``;
    ids read ``SRNN-check_padding``, ``PCRNNHCM(factors=3)-check_padding``.
    ``expected_failures`` maps a class to ``{check name: reason}``: those tests are
    marked ``xfail(strict=True)`` (a known, reported failure; a fix makes them fail as
    XPASS, so that the entry is removed).
    """
    import pytest  # only a test suite calls this: the package does not need pytest

    expected_failures = expected_failures or {}
    params = []
    for item in models:
        cls, kwargs = item if isinstance(item, tuple) else (item, {})
        known = expected_failures.get(cls, {})
        for name, check in applicable_checks(cls, **kwargs):
            bound = _PytestCheck(name, check, dict(kwargs))
            marks = []
            if name in known:
                marks.append(
                    pytest.mark.xfail(reason=known[name], strict=True, raises=ContractError)
                )
            label = f"{_label(cls, kwargs)}-{name}"
            params.append(pytest.param(cls, bound, id=label, marks=marks))
    return pytest.mark.parametrize("model, check", params)
