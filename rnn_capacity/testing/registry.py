"""How a rule becomes a check: ``_rule`` registers it in
:data:`~rnn_capacity.testing.CHECKS` as ``check(cls, **kwargs)``, which raises
:class:`~rnn_capacity.testing.SkipCheck` where the rule does not apply and turns any
failure into a :class:`~rnn_capacity.testing.ContractError` naming the rule and the
model."""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..errors import one_line
from .machinery import _quiet
from .spec import _label, _Spec


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
