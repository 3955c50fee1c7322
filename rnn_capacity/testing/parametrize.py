"""The pytest side: :func:`~rnn_capacity.testing.parametrize_with_checks`, one test per
(model, rule). pytest is imported inside the functions: the package does not need it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .registry import ContractError, SkipCheck
from .runner import applicable_checks
from .spec import _label


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
