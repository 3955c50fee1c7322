"""The JSON records the package writes and reads back: one type each, validated on read.

- ``space.json``: :class:`SweepSpace` (read by a resume, ``optimum``, ``evaluate --from``
  and the study);
- a line of ``evaluations.jsonl``: :class:`Configuration` (read by a resume);
- ``summary.json``: :class:`SweepSummary` (read by a resume and the study);
- ``evaluation.json``: :class:`Evaluation` (read by the report and the study);
- ``optimum.json``: :class:`Optimum` (read by the study).

(The search-space YAML is :class:`rnn_capacity.config.SearchConfig`.) Each type is a
dataclass: its constructor is the one way to make the record, :meth:`Record.write` (or
:meth:`Record.to_line`) the one writer and :meth:`Record.read` (or
:meth:`Record.from_dict`) the one reader. Every JSON record carries
``"format": FORMAT``; a file without it was written before the field existed and is
format 1. Reading checks every field — its type (``True`` is no count, NaN and infinity
no number), its range, how fields agree — and refuses anything else, an unknown field
or format included, with one :class:`~rnn_capacity.errors.UsageError` naming the file
and the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .config import MAX_INTEGER, PRIORS, TYPES, Dimension, load_search_config
from .errors import UsageError, one_line
from .files import read_record_bytes, write_json
from .models import is_model_name
from .protocol import PruneRule

__all__ = [
    "FORMAT",
    "BestConfiguration",
    "Configuration",
    "Evaluation",
    "Optimum",
    "Record",
    "SweepSpace",
    "SweepSummary",
]

#: The format version this code writes, and the only one it reads.
FORMAT = 1


class Invalid(Exception):
    """A field's problem, before the record knows where it was read from."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field, self.problem = field, problem


def spec(*, minimum: float | None = None, check=None, omit_none: bool = False, **kwargs):
    """A dataclass field with the rules its reader applies: ``minimum`` (also of each
    number in a list), ``check(value) -> problem or None``; ``omit_none``: left out of
    the file when None (the record as earlier versions wrote it)."""
    meta = {"minimum": minimum, "check": check, "omit_none": omit_none}
    return field(metadata=meta, **kwargs)


# ------------------------------------------------------------------------- type checks


def _describe(hint) -> str:
    if hint is typing.Any:
        return "JSON value"
    if _is_union(hint):
        return " or ".join("null" if a is type(None) else _describe(a) for a in hint.__args__)
    origin = typing.get_origin(hint)
    if origin is list:
        return f"list of {_describe(typing.get_args(hint)[0])}"
    if origin is dict:
        return f"dict of {_describe(typing.get_args(hint)[1])}"
    if hint is Dimension or (isinstance(hint, type) and issubclass(hint, Record)):
        return "dict"
    return hint.__name__


def _is_union(hint) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


#: How deep a free-form field (settings, hparams, ...) may nest: no record nests more than
#: a few levels, and a deeper value could not be written again (json's recursion limit).
MAX_DEPTH = 32


def _json_value(value, name: str, depth: int = 0):
    """Any JSON value without NaN or infinity (``json`` reads them; no record holds one)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(name, f"{value} where a finite number is expected")
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise Invalid(name, f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for k, v in value.items():
            _json_value(v, f"{name}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _json_value(v, f"{name}[{i}]", depth + 1)
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise Invalid(name, f"not a JSON value ({type(value).__name__})")
    return value


def _decode(value, hint, name: str, minimum: float | None = None):
    """``value`` checked against ``hint`` (the field's annotation); nested records and
    dimensions decoded."""

    def wrong() -> Invalid:  # made only when needed: the repr of a long list takes time
        return Invalid(name, f"missing or not a {_describe(hint)} (got {_short(value)})")

    if hint is typing.Any:
        return _json_value(value, name)
    if _is_union(hint):
        if value is None and type(None) in hint.__args__:
            return None
        for arg in hint.__args__:
            if arg is type(None):
                continue
            try:
                return _decode(value, arg, name, minimum)
            except Invalid as exc:
                if len(hint.__args__) == 2:  # X | None: X's own message says more
                    raise exc from None
        raise wrong()
    origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, list):
            raise wrong()
        (item,) = typing.get_args(hint)
        return [_decode(v, item, f"{name}[{i}]", minimum) for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise wrong()
        item = typing.get_args(hint)[1] if origin is dict else typing.Any
        return {k: _decode(v, item, f"{name}.{k}", minimum) for k, v in value.items()}
    if hint is Dimension:
        return _dimension(value, name)
    if isinstance(hint, type) and issubclass(hint, Record):
        if not isinstance(value, dict):
            raise wrong()
        return hint._from_fields(value, prefix=f"{name}.")
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if hint is int or hint is float:
        ok = isinstance(value, int) if hint is int else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or (hint is float and not _finite(value)):
            raise wrong()
        if minimum is not None and value < minimum:
            raise Invalid(name, f"must be at least {minimum:g}, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    raise TypeError(f"{name}: no reader for {hint!r}")  # a record declared badly: a bug


def _finite(value: int | float) -> bool:
    """Finite as a float: not NaN or infinity, nor an int beyond float's range (1e400)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _name(field: str) -> str:
    """A field as a message names it: as it is, or its repr where the name holds a line
    break or other unprintable characters (a message is one line)."""
    return field if field.isprintable() else repr(field)


def _line(message: str) -> str:
    """``message`` as one line (a problem may quote a key of the file)."""
    return message if len(message.splitlines()) == 1 else one_line(message)


def _short(value) -> str:
    try:
        text = repr(value)
    except RecursionError:
        return "a value nested too deeply"
    return text if len(text) <= 60 else text[:57] + "..."


def _dimension(raw, name: str) -> Dimension:
    """A dimension of ``space.json``, checked enough that decoding it cannot fail."""
    keys = ("name", "type", "low", "high", "prior")
    if not isinstance(raw, dict) or set(raw) != set(keys):
        raise Invalid(name, f"a dimension is a dict with exactly {', '.join(keys)}")
    dim_name = raw["name"]
    if not isinstance(dim_name, str) or not dim_name:
        raise Invalid(f"{name}.name", f"missing or not a str (got {_short(dim_name)})")
    if raw["type"] not in TYPES or raw["prior"] not in PRIORS:
        raise Invalid(dim_name, f"type {raw['type']!r} / prior {raw['prior']!r} unknown")
    low, high = (_decode(raw[k], float, f"{dim_name}.{k}") for k in ("low", "high"))
    dim = Dimension(dim_name, raw["type"], low, high, raw["prior"])
    if not low < high or (dim.prior == "log-uniform" and low <= 0):
        raise Invalid(dim_name, f"bounds [{low}, {high}] do not fit {dim.prior}")
    if dim.type == "integer" and not (float(low).is_integer() and float(high).is_integer()):
        raise Invalid(dim_name, f"an integer dimension needs integer bounds, got [{low}, {high}]")
    # As the search-space loader: what the optimizer and the decoding can work with.
    if dim.type == "integer" and not all(abs(v) <= MAX_INTEGER for v in (low, high)):
        raise Invalid(dim_name, f"integer bounds [{low}, {high}] beyond 64 bits")
    if dim.prior == "uniform" and not _finite(float(high) - float(low)):
        raise Invalid(dim_name, f"bounds [{low}, {high}]: high - low is not a finite number")
    return dim


def _encode(value):
    if isinstance(value, Dimension):
        return dataclasses.asdict(value)
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


# ------------------------------------------------------------------------------ records


class Record:
    """What the record types share: reading, checking and writing (see the module doc).

    A subclass is a dataclass; its annotations say each field's type, :func:`spec` its
    rules, :meth:`validate` how its fields must agree. Messages name the file, then
    the field: ``<file>: unreadable <noun> (<field>: <problem>)``.
    """

    NOUN: ClassVar[str] = "record"
    #: A problem of one field, and a file that is no JSON object or no JSON at all.
    INVALID: ClassVar[str] = "unreadable {noun} ({field}: {problem})"
    NOT_OBJECT: ClassVar[str] = "unreadable {noun} (a JSON object is expected)"
    UNREADABLE: ClassVar[str] = "unreadable {noun} ({why})"
    STORED: ClassVar[tuple[str, ...]] = ()  # set per class: the fields a file holds

    # -- reading ------------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | Path):
        """The record in ``path``, checked (a UsageError naming file and field)."""
        path = Path(path)
        try:
            raw = json.loads(read_record_bytes(path).decode("utf-8"))
        # ValueError: not UTF-8, not JSON, or an integer of more than 4300 digits.
        except (OSError, ValueError, RecursionError) as exc:
            why = cls.UNREADABLE.format(noun=cls.NOUN, why=one_line(exc))
            raise UsageError(f"{path}: {why}") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw, where: str):
        """The record of a parsed JSON value (``where``: the file, for messages)."""
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: {cls.NOT_OBJECT.format(noun=cls.NOUN)}")
        try:
            version = raw.get("format", 1)
            if isinstance(version, bool) or version != FORMAT:
                raise Invalid(
                    "format", f"version {version!r} unknown: this rnn_capacity reads {FORMAT}"
                )
            return cls._from_fields({k: v for k, v in raw.items() if k != "format"})
        except Invalid as exc:
            field = exc.field if "{field!r}" in cls.INVALID else _name(exc.field)
            message = cls.INVALID.format(noun=cls.NOUN, field=field, problem=exc.problem)
            raise UsageError(_line(f"{where}: {message}")) from None

    @classmethod
    def _from_fields(cls, raw: dict, prefix: str = ""):
        hints = typing.get_type_hints(cls)
        values = {}
        for f in cls._fields():
            name = prefix + f.name
            if f.name not in raw:
                required = f.default is dataclasses.MISSING
                required = required and f.default_factory is dataclasses.MISSING
                if required:
                    raise Invalid(name, f"missing or not a {_describe(hints[f.name])}")
                continue
            value = _decode(raw[f.name], hints[f.name], name, f.metadata.get("minimum"))
            check = f.metadata.get("check")
            problem = check(value) if check is not None and value is not None else None
            if problem:
                raise Invalid(name, problem)
            values[f.name] = value
        unknown = [k for k in raw if k not in values and k not in cls.STORED]
        if unknown:
            raise Invalid(prefix + unknown[0], f"not a field of a {cls.NOUN}")
        record = cls(**values)
        record.validate(prefix)
        return record

    def validate(self, prefix: str = "") -> None:
        """How the fields must agree (raise :class:`Invalid`); none by default."""

    @classmethod
    def _fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.name in cls.STORED]

    # -- writing ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The record's content as JSON-able values (no ``format``: see :meth:`to_json`)."""
        out = {}
        for f in self._fields():
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _encode(value)
        return out

    def to_json(self) -> dict:
        """What the file holds: the format version, then the content."""
        return {"format": FORMAT} | self.to_dict()

    def write(self, path: str | Path) -> None:
        """Write the record to ``path`` atomically."""
        write_json(Path(path), self.to_json())

    def to_line(self) -> str:
        """The record as one line of a JSON-lines journal (``evaluations.jsonl``)."""
        return json.dumps(self.to_json(), allow_nan=False) + "\n"


def stored(cls):
    """Class decorator after ``@dataclass``: every field is stored unless it says
    ``metadata={"stored": False}``."""
    cls.STORED = tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("stored", True))
    return cls


def _model_name(value: str) -> str | None:
    if not is_model_name(value):
        return (
            f"names an unknown model {value!r} (a registered name or an import path "
            "module:Class is expected)"
        )
    return None


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be positive, got {value!r}"


def _parameters(value: dict) -> str | None:
    keys = {"trainable", "per_sequence", "shared"}
    if set(value) != keys or any(v < 0 for v in value.values()):
        return f"expected non-negative counts {', '.join(sorted(keys))}, got {_short(value)}"
    return None


def _point(value: dict) -> str | None:
    """``refined`` / ``expected_minimum`` of an optimum: a point like the optimum's own."""
    try:
        _decode(value.get("hparams"), dict[str, float], "hparams")
        for key in ("p", "objective", "predicted_count"):
            _decode(value.get(key), float, key)
        if "resolution" in value:
            _decode(value["resolution"], int, "resolution", minimum=2)
        if "grid_point" in value:
            _decode(value["grid_point"], list[float], "grid_point")
    except Invalid as exc:
        return f"{exc.field}: {exc.problem}"
    extra = set(value) - {"hparams", "p", "objective", "predicted_count", "resolution"}
    extra -= {"grid_point"}
    return f"unknown key {sorted(extra)[0]!r}" if extra else None


# ------------------------------------------------------------------------------ a sweep


@stored
@dataclass
class SweepSpace(Record):
    """``space.json``: what defines a sweep's experiment; a resume must match it."""

    NOUN: ClassVar[str] = "space"

    model: str = spec(check=_model_name)
    dimensions: list[Dimension] = spec()
    x0: dict[str, float] = spec()
    fixed: dict[str, Any] = spec()
    hidden_size: int = spec(minimum=1)
    tries: int = spec(minimum=1)
    iterations: int = spec(minimum=1)
    learn_initial_state: bool = spec()
    threshold: float = spec(check=_positive)
    data: str | None = spec()
    settings: dict[str, Any] = spec()
    seed: int = spec(minimum=0)
    # ``--prune``'s rule (protocol.PruneRule as a dict): tries of p >= min_p whose loss
    # after ``at`` iterations was above ``bound`` stopped there and counted 0 (a
    # departure from the protocol); absent: none.
    prune: dict[str, float] | None = spec(omit_none=True, default=None)

    def validate(self, prefix: str = "") -> None:
        names = [d.name for d in self.dimensions]
        if "p" not in names:
            raise Invalid(prefix + "dimensions", "the space has no dimension p")
        if len(set(names)) < len(names):
            raise Invalid(prefix + "dimensions", "a dimension appears twice")
        if set(self.x0) != set(names):
            raise Invalid(prefix + "x0", f"expected a value for each of {', '.join(names)}")
        for d in self.dimensions:
            if not d.low <= self.x0[d.name] <= d.high:
                raise Invalid(f"{prefix}x0.{d.name}", f"outside [{d.low}, {d.high}]")

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]


@stored
@dataclass
class Configuration(Record):
    """One finished configuration of a sweep: a line of ``evaluations.jsonl``.

    Made in one place, :mod:`rnn_capacity.sweep.batch` (a trained batch, or one whose
    training failed: ``failed`` says why, its counts are 0)."""

    NOUN: ClassVar[str] = "configuration record"
    INVALID: ClassVar[str] = "not a record of this sweep ({field}: {problem}); fix or remove it"
    NOT_OBJECT: ClassVar[str] = "not a record of this sweep (not a JSON object); fix or remove it"

    index: int = spec(minimum=0)
    x: list[float] = spec()  # the point in the space's dimension order
    p: int = spec(minimum=1)
    hparams: dict[str, Any] = spec()
    seeds: list[int] = spec(minimum=0)
    counts: list[int] = spec(minimum=0)
    mean_count: float = spec(minimum=0)
    objective: float = spec()  # p − 2·mean_count
    final_losses: list[float | None] = spec()  # None: diverged (or never trained)
    seconds: float = spec(minimum=0)  # per try: the ensemble's wall time / its replicas
    ensemble: int = spec(minimum=0)  # replicas trained together (0: failed)
    parameters: dict[str, int] | None = spec(check=_parameters, omit_none=True, default=None)
    # Every option's effective value, defaults included (absent in older journals).
    options: dict[str, Any] | None = spec(omit_none=True, default=None)
    # Per try, the step after which it diverged and was finished (None: it did not);
    # absent when no try diverged (and in older journals).
    diverged_at: list[int | None] | None = spec(omit_none=True, default=None)
    # Per try, the iteration at which ``--prune`` stopped it (count 0; None: it did not);
    # absent when no try was pruned.
    pruned_at: list[int | None] | None = spec(omit_none=True, default=None)
    failed: str | None = spec(omit_none=True, default=None)

    def validate(self, prefix: str = "") -> None:
        if any(c > self.p for c in self.counts):
            raise Invalid(prefix + "counts", f"a count above p = {self.p}: {self.counts}")
        if len(self.final_losses) != len(self.counts):
            raise Invalid(prefix + "final_losses", "one per try is expected (as counts)")
        for name in ("diverged_at", "pruned_at"):
            steps = getattr(self, name)
            if steps is not None and len(steps) != len(self.counts):
                raise Invalid(prefix + name, "one per try is expected (as counts)")


@stored
@dataclass
class BestConfiguration(Record):
    """The best configuration of a sweep, as its summary holds it."""

    NOUN: ClassVar[str] = "best configuration"

    index: int = spec(minimum=0)
    x: list[float] = spec()
    p: int = spec(minimum=1)
    hparams: dict[str, Any] = spec()
    counts: list[int] = spec(minimum=0)
    mean_count: float = spec(minimum=0)
    objective: float = spec()

    @classmethod
    def of(cls, record: Configuration) -> BestConfiguration:
        return cls(**{f.name: getattr(record, f.name) for f in cls._fields()})


@stored
@dataclass
class SweepSummary(Record):
    """``summary.json``: a sweep's progress and best configuration, after every batch."""

    NOUN: ClassVar[str] = "summary"

    model: str = spec(check=_model_name)
    hidden_size: int = spec(minimum=1)
    calls_done: int = spec(minimum=0)
    calls_requested: int = spec(minimum=1)
    best: BestConfiguration | None = spec()
    best_objective: float | None = spec()
    best_mean_count: float | None = spec(minimum=0)
    best_mean_count_index: int | None = spec(minimum=0)
    wall_seconds: float = spec(minimum=0)


# ---------------------------------------------------------------------- an evaluation


@stored
@dataclass(kw_only=True)
class Evaluation(Record):
    """``evaluation.json``: the counts of one configuration over several seeds.

    The five fields without a default are what a report needs; the others were added
    over time (``parameters`` last), so an older or hand-written file may lack them.
    ``directory`` is where the file was read from (not stored in it).
    """

    NOUN: ClassVar[str] = "evaluation"
    INVALID: ClassVar[str] = "not an evaluation ({field!r} {problem})"
    NOT_OBJECT: ClassVar[str] = "not an evaluation (a JSON object is expected)"
    UNREADABLE: ClassVar[str] = "not a readable evaluation ({why})"

    model: str = spec(check=_model_name)
    hidden_size: int = spec(minimum=1)
    p: int = spec(minimum=1)
    hparams: dict[str, Any] = spec(default_factory=dict)
    learn_initial_state: bool | None = spec(default=None)
    settings: dict[str, Any] = spec(default_factory=dict)
    # A teacher-forced count is one-step prediction, not free generation.
    teacher_forced_count: bool = spec(default=False)
    iterations: int | None = spec(minimum=1, default=None)
    threshold: float | None = spec(check=_positive, default=None)
    data: str | None = spec(default=None)
    source: dict[str, Any] = spec(default_factory=dict)  # where the configuration came from
    seeds: list[int] = spec(minimum=0, default_factory=list)
    counts: list[int] = spec(minimum=0, default_factory=list)
    mean_count: float = spec(minimum=0)
    std_count: float = spec(minimum=0)
    final_losses: list[float | None] | None = spec(default=None)
    # Seeds whose loss went non-finite (count 0): null in files from before it was stored.
    diverged: int | None = spec(minimum=0, default=None)
    seconds: float | None = spec(minimum=0, default=None)
    parameters: dict[str, int] | None = spec(check=_parameters, default=None)
    # Every option's effective value, defaults included (null in older files).
    options: dict[str, Any] | None = spec(default=None)
    loss_curves: list[list[float | None]] | None = spec(default=None)
    original: dict[str, Any] | None = spec(default=None)  # the original study's figures
    directory: Path | None = field(default=None, metadata={"stored": False}, compare=False)

    @classmethod
    def read(cls, path: str | Path) -> Evaluation:
        evaluation = super().read(path)
        evaluation.directory = Path(path).parent
        return evaluation

    def validate(self, prefix: str = "") -> None:
        if any(c > self.p for c in self.counts):
            raise Invalid("counts", f"a count above p = {self.p}: {self.counts}")
        if self.seeds and self.counts and len(self.seeds) != len(self.counts):
            raise Invalid("counts", "one per seed is expected")
        if not isinstance(self.source.get("kind", ""), str):
            raise Invalid("source", f"its kind must be a str, got {_short(self.source)}")
        if self.diverged is not None and self.counts and self.diverged > len(self.counts):
            raise Invalid("diverged", f"{self.diverged} of {len(self.counts)} seeds")

    @property
    def n_seeds(self) -> int:
        return len(self.seeds or self.counts)

    @property
    def n_diverged(self) -> int:
        """Seeds that diverged: as stored, or (older files) those with a null final loss."""
        if self.diverged is not None:
            return self.diverged
        return sum(loss is None for loss in self.final_losses or [])

    def variant(self) -> str:
        """``paper`` when the evaluation ran its model's reproducing variant (its initial
        states and teacher forcing, the search space's ``paper:``), else ``own``."""
        try:
            paper = load_search_config(self.model).paper
        except UsageError:  # a model without a search space has no paper variant
            return "own"
        tf = self.settings.get("teacher_forcing")
        same = self.learn_initial_state == paper.learn_initial_state
        return "paper" if same and tf == paper.settings.get("teacher_forcing") else "own"

    def protocol(self) -> dict:
        """What a count depends on besides the model and its configuration: evaluations
        that differ in it are different measurements, not a comparison."""
        return {
            "iterations": self.iterations,
            "threshold": self.threshold,
            "data": self.data or "built-in",
            "variant": self.variant(),
            "search": self.search_label(),
        }

    def search_label(self) -> str:
        """How the configuration was searched for: ``pruned (loss > B at N)`` where its
        sweep ran with ``--prune``, else ``full`` (every try trained to the end)."""
        rule = self.source.get("prune")
        if not rule:
            return "full"
        return f"pruned ({PruneRule(**rule).describe()})"

    def protocol_label(self) -> str:
        """``3000 iterations, fixed initial states, teacher_forcing=always (paper variant)``."""
        states = {True: "learned", False: "fixed", None: "unrecorded"}[self.learn_initial_state]
        tf = self.settings.get("teacher_forcing")
        its = f"{self.iterations} iterations" if self.iterations else "iterations unrecorded"
        forcing = f", teacher_forcing={tf}" if tf is not None else ""
        search = self.search_label()
        searched = f", found by a {search} search" if search != "full" else ""
        return f"{its}, {states} initial states{forcing} ({self.variant()} variant){searched}"

    def count_label(self, digits: int = 1) -> str:
        """The count as a report shows it: ``diverged (all 3 seeds)`` when every seed
        diverged (not a count of 0, which would read as 'learned nothing'), else
        ``mean ± std``, with how many seeds diverged if any did."""
        n, bad = self.n_seeds, self.n_diverged
        if n and bad >= n:
            return f"diverged (all {n} seeds)" if n > 1 else "diverged"
        text = f"{self.mean_count:.{digits}f} ± {self.std_count:.{digits}f}"
        return text + (f" ({bad} of {n} seeds diverged)" if bad else "")


# ---------------------------------------------------------------------------- an optimum


@stored
@dataclass(kw_only=True)
class Optimum(Record):
    """``optimum.json``: a configuration to evaluate, read off a sweep.

    The surrogate's optimum (:func:`rnn_capacity.optimum.find_optimum`: grid point,
    optional refinement and skopt's estimate), or the best configuration the sweep
    measured (:func:`rnn_capacity.optimum.observed_optimum`: no grid). ``refined`` and
    ``expected_minimum`` are dicts with ``hparams``, ``p``, ``objective``,
    ``predicted_count`` (``refined`` also ``resolution`` and ``grid_point``), or None.
    """

    NOUN: ClassVar[str] = "optimum"

    model: str | None = spec(check=_model_name, default=None)
    hidden_size: int | None = spec(minimum=1, default=None)
    source: str = spec()
    resolution: int | None = spec(minimum=2, default=None)
    hparams: dict[str, float] = spec()  # without p
    p: float = spec(minimum=1)  # unrounded
    objective: float = spec()  # predicted p − 2·count
    predicted_count: float = spec()
    grid_point: list[float] | None = spec(default=None)  # normalised coordinates
    refined: dict[str, Any] | None = spec(check=_point, default=None)
    expected_minimum: dict[str, Any] | None = spec(check=_point, default=None)
