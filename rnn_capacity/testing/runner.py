"""Running the rules: :func:`~rnn_capacity.testing.check_model` runs every one that
applies and returns a :class:`~rnn_capacity.testing.ContractReport`;
:func:`~rnn_capacity.testing.applicable_checks` lists them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .registry import SkipCheck
from .rules import CHECKS
from .spec import _label, _Spec


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
