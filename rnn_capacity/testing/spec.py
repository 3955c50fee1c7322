"""What a check is given: the checks' tiny sizes and tolerances, and ``_Spec``, a model
class with those sizes and its option values (each replica's value of a per-replica
option, the values of a shared setting worth checking)."""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass

import pytorch_lightning as pl

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
