"""What a model accepts: its hyperparameters and settings, declared once, on the class.

Every model class lists its options in ``OPTIONS`` (its own, on top of its bases'), each
an :class:`Option` with a name, a type, a range (or the allowed names) and whether it is
*per replica* — a hyperparameter every replica of an ensemble may set to its own value,
hence a dimension a search may explore — or a *setting* all replicas share. The model's
constructor, :func:`rnn_capacity.measure.measure_capacity`, the CLIs' ``--set`` and the
search-space loader all validate against this one declaration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError
from ..layout import check_num_sequences  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Option:
    """One option of a model.

    Args:
        name: the keyword argument (``tau``).
        kind: ``float``, ``int``, ``bool`` or ``str``.
        low, high: the allowed range (numbers); ``open_low`` excludes ``low`` itself.
        choices: the allowed values of a ``str`` option.
        per_replica: a hyperparameter each replica may set (searchable), not a setting.
        nullable: ``None`` is allowed and means the model's default (``factors``).
        legacy: ``(old, new)`` pairs: values of an older API read as their new names.
        doc: one line for help texts.
    """

    name: str
    kind: type
    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    choices: tuple[str, ...] = ()
    per_replica: bool = False
    nullable: bool = False
    legacy: tuple[tuple, ...] = ()
    doc: str = ""

    def allowed(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        article = "an" if self.kind is int else "a"
        bounds = [b if math.isinf(b) else self.kind(b) for b in (self.low, self.high)]
        low = "(" if self.open_low else "["
        high = "]" if self.high < math.inf else ")"
        return f"{article} {self.kind.__name__} in {low}{bounds[0]}, {bounds[1]}{high}"

    def check(self, value, model: str):
        """``value`` as plain Python if allowed, else :class:`UsageError` naming the option."""
        value = value.item() if hasattr(value, "item") else value  # numpy scalars
        if value is None and self.nullable:
            return None
        value = next((new for old, new in self.legacy if value is old), value)
        if self.kind is str:
            if isinstance(value, str) and value in self.choices:
                return value
        elif self.kind is bool:
            if isinstance(value, bool):
                return value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if self.kind is float and not isinstance(value, float):
                try:  # read tau=-1 as -1.0 (10**400 overflows: out of range below)
                    value = float(value)
                except OverflowError:
                    pass
            right_type = self.kind is float or isinstance(value, int)  # no 2.5 factors
            if right_type and self.in_range(value):
                return float(value) if self.kind is float else value
        raise UsageError(
            f"hyperparameter {self.name}={value!r} out of range for {model}: {self.allowed()}"
        )

    def in_range(self, value: float) -> bool:
        try:  # float(10**400) overflows
            v = float(value)
        except OverflowError:
            return False
        if not math.isfinite(v):
            return False
        above = self.low < v if self.open_low else self.low <= v
        return above and v <= self.high


#: The largest hidden size accepted (an H×H matrix of 20 000² floats is 1.6 GB already).
MAX_HIDDEN = 20_000
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's largest signed seed


def check_count(value, name: str, low: int = 1, high: int = 10**9) -> int:
    """An integer argument such as the hidden size, or UsageError naming it."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise UsageError(f"{name}={value} out of range: {low}..{high}")
    return value


# The options the models share (each model lists the ones it takes).
LR = Option("lr", float, 0.0, open_low=True, per_replica=True, doc="Adam learning rate")
TAU = Option("tau", float, 1.0, per_replica=True, doc="time constant τ (update rate 1/τ)")
TAU_SLOW = Option("tau_slow", float, 1.0, per_replica=True, doc="MTRNN slow time constant")
TAU_FAST = Option("tau_fast", float, 1.0, per_replica=True, doc="MTRNN fast time constant")
GAMMA = Option("gamma", float, 0.0, per_replica=True, doc="antisymmetric RNN diffusion γ")
CONNECTIVITY = Option(
    "connectivity", float, 0.0, 1.0, per_replica=True, doc="ESN reservoir connectivity q"
)
SIGMA = Option("sigma", float, 0.0, open_low=True, per_replica=True, doc="ESN strength σ")
RIDGE = Option("ridge", float, 0.0, doc="ESN read-out ridge penalty λ (shared)")
ALPHA_H_PRIME = Option("alpha_h_prime", float, 0.0, per_replica=True, doc="PC-RNN-GC α_h'")
STATE_INFERENCE = Option("state_inference", bool, doc="PC-RNN-GC state-inference term")
FACTORS = Option("factors", int, 1, nullable=True, doc="HC-M factors F (None: F = H)")
TEACHER_FORCING = Option(
    "teacher_forcing",
    str,
    choices=("none", "train", "always"),
    legacy=((True, "train"), (False, "none")),  # teacher_forcing was a bool
    doc="LSTM/GRU input: none (closed loop), train, always (also in the count)",
)


def declared_options(cls) -> dict[str, Option]:
    """A model class's options by name: its own ``OPTIONS`` first, then its bases', minus
    those it ignores (the ESN has no learning rate)."""
    out: dict[str, Option] = {}
    for klass in cls.__mro__:
        for option in vars(klass).get("OPTIONS", ()):
            out.setdefault(option.name, option)
    for name in getattr(cls, "ignored_options", ()):
        out.pop(name, None)
    return out


def searchable_options(cls) -> list[str]:
    """The per-replica hyperparameters of a model class: what a search may vary and what
    the replicas of one ensemble may set each to their own value."""
    return [name for name, option in declared_options(cls).items() if option.per_replica]


def validate_options(cls, options: dict, model: str | None = None) -> dict:
    """Check names, types and ranges of ``options`` against ``cls``'s declaration; returns
    them as plain Python. A per-replica hyperparameter may be a list (one per replica)."""
    model = model or cls.__name__
    declared = declared_options(cls)
    clean = {}
    for name, value in options.items():
        if name not in declared:
            raise UsageError(
                f"unknown hyperparameter {name!r} for model {model}; allowed: {', '.join(declared)}"
            )
        option = declared[name]
        if option.per_replica and isinstance(value, list | tuple):
            clean[name] = [option.check(v, model) for v in value]
        else:
            clean[name] = option.check(value, model)
    return clean
