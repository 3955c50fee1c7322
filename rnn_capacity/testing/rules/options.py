"""The rules on construction and options (``check_constructor_options``,
``check_option_ranges``, ``check_hparams_round_trip``): every constructor argument is a
declared option, out-of-range values are refused in one line, and ``hparams`` rebuild the
model."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch

from ...errors import UsageError
from ..machinery import _close, _equal_models, _expect, _outputs, _targets
from ..registry import _rule
from ..spec import EXACT, TIGHT, _accepts, _init_parameters, _setting_values, _Spec


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
