"""Search spaces: one short YAML file per model in ``configs/``, validated on load.

A file names the model, the sizes the original study searched, the number of calls of
the original protocol, the dimensions (in protocol.md's order: the original
surrogates depend on it), the default point ``x0`` and fixed model settings::

    model: pc_rnn_hc_a
    sizes: [30, 40, 60]
    calls: 300
    space:
      - {name: p, type: integer, low: 1, high: 250, prior: uniform}
      - {name: lr, type: real, low: 1.0e-4, high: 1.0, prior: log-uniform}
      - {name: tau, type: real, low: 1.0, high: 100.0, prior: log-uniform}
    x0: {p: 5, lr: 0.01, tau: 10.0}
    fixed: {}
    paper:
      learn_initial_state: false
      settings: {}
      source: published
      reason: the original notebook shows this model trained with fixed initial states

The dimension ``p`` is the number of sequences; the others are model options. ``paper``
is the protocol variant the ``paper`` preset (and ``evaluate --reference``) uses for this
model: whether its initial states are trained, and settings such as LSTM/GRU teacher
forcing. ``source`` says whether the original study published that choice or it is
*inferred* (the variant under which the built-in data reproduces the original counts,
bench/reproduce.py); ``reason`` says why, in one line.

A model from outside the package (a plug-in, ``rnn_capacity.models.registry``) has its
space in a file of the same format: given with ``--space FILE.yaml`` (the
``space=`` argument), or shipped with the plug-in and named by its class's
``SEARCH_SPACE`` attribute, a path relative to the directory of the class's module (ship
it as package data). Such a file's ``model:`` may be left out; if given, it must name
the same class (any of its names: ``mgu`` or ``mgu_capacity:MGU``).

Any mistake is a :class:`~rnn_capacity.errors.UsageError` naming the file and the key.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import UsageError, one_line
from .files import read_record_bytes, write_atomic
from .models import BUILTIN_MODELS, resolve_model
from .models.options import searchable_options, validate_options
from .paths import shipped
from .trajectories import N_TRAJECTORIES as MAX_SEQUENCES

CONFIG_DIR = shipped("configs")
TOP_KEYS = {"model", "sizes", "calls", "space", "x0", "fixed", "paper"}
PAPER_KEYS = {"learn_initial_state", "settings", "source", "reason"}
SOURCES = ("published", "inferred")
DIM_KEYS = {"name", "type", "low", "high", "prior"}
PRIORS = ("uniform", "log-uniform")
TYPES = ("integer", "real")
MAX_INTEGER = 2**63 - 1  # an integer dimension's bounds: the optimizer's 64-bit integers


@dataclass(frozen=True)
class Dimension:
    name: str
    type: str
    low: float
    high: float
    prior: str

    def to_skopt(self, transform: str | None = None):
        # scikit-optimize (scikit-learn, scipy) takes a second to load: only a search needs it.
        from skopt.space import Integer, Real

        cls = Integer if self.type == "integer" else Real
        kwargs = {"transform": transform} if transform else {}
        return cls(self.low, self.high, prior=self.prior, name=self.name, **kwargs)

    def denormalise(self, x: float) -> float:
        """A normalised coordinate back to a value, *unrounded* also for integers (the
        protocol reports p unrounded; skopt's own ``inverse_transform`` rounds)."""
        if self.prior == "log-uniform":
            lo, hi = math.log10(self.low), math.log10(self.high)
            return 10 ** (lo + x * (hi - lo))
        return self.low + x * (self.high - self.low)


@dataclass(frozen=True)
class PaperProtocol:
    """The protocol variant that reproduces the original study for one model."""

    learn_initial_state: bool = False
    settings: dict = field(default_factory=dict)  # e.g. {"teacher_forcing": "always"}
    source: str = "published"  # or "inferred"
    reason: str = ""


@dataclass
class SearchConfig:
    model: str
    sizes: list[int]
    calls: int
    space: list[Dimension]
    x0: dict[str, float]
    fixed: dict = field(default_factory=dict)
    path: Path | None = None
    paper: PaperProtocol = field(default_factory=PaperProtocol)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.space]

    def skopt_space(self) -> list:
        return [d.to_skopt() for d in self.space]

    def normalise(self, values: dict) -> list[float]:
        """A point (by name) in the [0, 1] coordinates scikit-optimize's GP works in (the
        surrogates' coordinates): skopt's own ``Space.transform``."""
        from skopt.space import Space  # slow to load: see Dimension.to_skopt

        space = Space([d.to_skopt("normalize") for d in self.space])
        return [float(v) for v in space.transform([[values[n] for n in self.names]])[0]]

    def x0_list(self) -> list:
        return [self.x0[n] for n in self.names]

    def to_dict(self) -> dict:
        """The file's content: :func:`write_search_config` writes it, and
        :func:`load_search_config` reads it back to the same config."""
        paper = self.paper
        return {
            "model": self.model,
            "sizes": list(self.sizes),
            "calls": self.calls,
            "space": [dict(vars(d)) for d in self.space],
            "x0": dict(self.x0),
            "fixed": dict(self.fixed),
            "paper": {
                "learn_initial_state": paper.learn_initial_state,
                "settings": dict(paper.settings),
                "source": paper.source,
                "reason": paper.reason,
            },
        }


def write_search_config(config: SearchConfig, path: str | Path) -> None:
    """Write ``config`` as a search-space file (the format of ``configs/*.yaml``)."""
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None)
    write_atomic(Path(path), text.encode())


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the
    last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:  # ? [1, 2]: a list (or a mapping, a set) as a key
                raise yaml.constructor.ConstructorError(
                    None, None, f"a {type(key).__name__} cannot be a key", key_node.start_mark
                ) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _finite(value: float) -> bool:
    """Whether a number is finite as a float (an int beyond float's range is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _count(value) -> bool:
    """A positive integer (``true`` is no count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _name(key) -> str:
    """A key of the file, as a message names it: as it is, or its repr where it holds a
    line break or other unprintable characters (a message is one line)."""
    return key if isinstance(key, str) and key.isprintable() else repr(key)


def is_space_file(model_or_path: str | Path) -> bool:
    return Path(model_or_path).suffix in (".yaml", ".yml")


def config_path(model_or_path: str | Path) -> Path:
    """A model's search-space file, or the path itself: ``configs/<model>.yaml`` for a
    built-in model, the file its class's ``SEARCH_SPACE`` names for a plug-in."""
    if is_space_file(model_or_path):
        return Path(model_or_path)
    if model_or_path in BUILTIN_MODELS:
        return CONFIG_DIR / f"{model_or_path}.yaml"
    name, cls = resolve_model(str(model_or_path))
    if name in BUILTIN_MODELS:  # an import path of a built-in class
        return CONFIG_DIR / f"{name}.yaml"
    shipped_space = getattr(cls, "SEARCH_SPACE", None)
    if not shipped_space:
        raise UsageError(
            f"model {name} has no search space: pass --space FILE.yaml (the format of "
            "configs/*.yaml), or name the file the plug-in ships in its class's SEARCH_SPACE"
        )
    return Path(inspect.getfile(cls)).parent / shipped_space


def load_search_config(model_or_path: str | Path, space: str | Path | None = None) -> SearchConfig:
    """Load and validate a search space: a model's (by name, see :func:`config_path`), the
    file ``model_or_path``, or — with ``space`` — the file ``space`` for the model
    ``model_or_path`` (its ``model:`` key may then be left out)."""

    model_given = None if space is None and is_space_file(model_or_path) else str(model_or_path)
    path = Path(space) if space is not None else config_path(model_or_path)
    where = str(path)
    try:
        if not path.is_file():
            raise UsageError(f"{where}: no such search-space file")
        content = read_record_bytes(path)
    except OSError as exc:  # a name too long, a file that cannot be read
        raise UsageError(f"{where}: cannot read ({one_line(exc.strerror or exc)})") from None
    try:
        raw = yaml.load(content.decode("utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not a YAML text file ({one_line(exc)})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: not valid YAML ({one_line(exc)})") from None
    except RecursionError:
        raise UsageError(f"{where}: not valid YAML (nested too deeply)") from None
    except Exception as exc:  # PyYAML's constructors: `!!bool x` a KeyError, `!!int x` ...
        problem = f"{type(exc).__name__}: {one_line(exc)}"
        raise UsageError(f"{where}: not valid YAML (a value it cannot read: {problem})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: expected a mapping with keys {sorted(TOP_KEYS)}")

    def fail(key: str, problem: str):
        message = f"{where}: {_name(key)}: {problem}"
        raise UsageError(message if len(message.splitlines()) == 1 else one_line(message))

    for key in raw:
        if key not in TOP_KEYS:
            fail(key, f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("model", "space", "x0") if model_given is None else ("space", "x0"):
        if key not in raw:
            fail(key, "missing")
    if model_given is not None:  # the model in use; the file's model: must be the same
        model, cls = resolve_model(model_given)
    if "model" in raw:
        try:
            named, named_cls = resolve_model(raw["model"])
        except UsageError as exc:
            fail("model", str(exc))
        if model_given is None:
            model, cls = named, named_cls
            # configs/srnn.yaml is srnn's: a file named after a built-in model holds it.
            if path.stem in BUILTIN_MODELS and BUILTIN_MODELS[path.stem] is not cls:
                fail("model", f"{raw['model']!r} in {path.name}, a file named after {path.stem}")
        elif named_cls is not cls:
            fail("model", f"{raw['model']!r} is another model than {model}")

    sizes = raw.get("sizes", [])
    if not isinstance(sizes, list) or not all(_count(s) for s in sizes):
        fail("sizes", "expected a list of positive integers")
    calls = raw.get("calls", 300)
    if not _count(calls):
        fail("calls", "expected a positive integer")

    if not isinstance(raw["space"], list) or not raw["space"]:
        fail("space", "expected a non-empty list of dimensions")
    space = []
    for i, dim in enumerate(raw["space"]):
        key = f"space[{i}]"
        if not isinstance(dim, dict):
            fail(key, "expected a mapping {name, type, low, high, prior}")
        for k in dim:
            if k not in DIM_KEYS:
                fail(f"{key}.{k}", f"unknown key; allowed: {', '.join(sorted(DIM_KEYS))}")
        for k in ("name", "low", "high"):
            if k not in dim:
                fail(f"{key}.{k}", "missing")
        name = dim["name"]
        key = f"space.{name}"
        # A batch of configurations trains as one ensemble, whose replicas may differ only
        # in per-replica hyperparameters; settings (factors, ridge, ...) go in `fixed`.
        searchable = searchable_options(cls)
        if name != "p" and name not in searchable:
            allowed = ", ".join(["p", *searchable])
            fail(key, f"not a searchable hyperparameter of {model}; allowed: {allowed}")
        if name in [d.name for d in space]:
            fail(key, "appears twice")
        kind = dim.get("type", "integer" if name == "p" else "real")
        prior = dim.get("prior", "uniform")
        if kind not in TYPES:
            fail(f"{key}.type", f"{kind!r} is not one of {', '.join(TYPES)}")
        if prior not in PRIORS:
            fail(f"{key}.prior", f"{prior!r} is not one of {', '.join(PRIORS)}")
        low, high = dim["low"], dim["high"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
            fail(key, "low and high must be numbers")
        if not all(_finite(v) for v in (low, high)):  # .inf and .nan read as floats
            fail(key, f"low and high must be finite, got [{low}, {high}]")
        if kind == "integer" and not (float(low).is_integer() and float(high).is_integer()):
            fail(key, "an integer dimension needs integer bounds")
        if low >= high:
            fail(key, f"low ({low}) must be below high ({high})")
        if prior == "log-uniform" and low <= 0:
            fail(key, f"a log-uniform prior needs low > 0, got {low}")
        # What the optimizer can work with: 64-bit integers, and a uniform prior's
        # coordinates (v - low) / (high - low), which overflow where high - low does.
        if kind == "integer" and not all(abs(v) <= MAX_INTEGER for v in (low, high)):
            fail(key, f"an integer dimension's bounds must lie within ±{MAX_INTEGER} (64 bits)")
        if prior == "uniform" and not _finite(float(high) - float(low)):
            fail(key, f"high - low must be a finite number, got [{low}, {high}]")
        if name == "p" and (low < 1 or high > MAX_SEQUENCES):
            fail(key, f"p must stay within 1..{MAX_SEQUENCES}")
        if kind == "integer":
            low, high = int(low), int(high)
        space.append(Dimension(name, kind, low, high, prior))

    x0 = raw["x0"]
    if not isinstance(x0, dict):
        fail("x0", "expected a mapping name -> value")
    for name in x0:
        if name not in [d.name for d in space]:
            fail(f"x0.{name}", "not a dimension of the space")
    for d in space:
        if d.name not in x0:
            fail(f"x0.{d.name}", "missing")
        v = x0[d.name]
        if not isinstance(v, int | float) or isinstance(v, bool) or not d.low <= v <= d.high:
            fail(f"x0.{d.name}", f"{v!r} is outside [{d.low}, {d.high}]")
        if d.type == "integer" and not float(v).is_integer():
            fail(f"x0.{d.name}", f"{v!r} is not an integer")
    x0 = {d.name: (int(x0[d.name]) if d.type == "integer" else float(x0[d.name])) for d in space}

    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        fail("fixed", "expected a mapping name -> value")
    for name in fixed:
        if name in x0:
            fail(f"fixed.{name}", "is also a search dimension")
    try:
        fixed = validate_options(cls, fixed, model)
    except UsageError as exc:
        fail("fixed", str(exc))
    paper = _paper_protocol(raw.get("paper") or {}, cls, model, fail)
    for name in paper.settings:
        if name in x0:
            fail(f"paper.settings.{name}", "is also a search dimension")
    return SearchConfig(model, sizes, calls, space, x0, fixed, path, paper)


def _paper_protocol(raw, cls, model: str, fail) -> PaperProtocol:
    """Validate a config's ``paper:`` mapping."""

    if not isinstance(raw, dict):
        fail("paper", f"expected a mapping with keys {sorted(PAPER_KEYS)}")
    for k in raw:
        if k not in PAPER_KEYS:
            fail(f"paper.{k}", f"unknown key; allowed: {', '.join(sorted(PAPER_KEYS))}")
    learn = raw.get("learn_initial_state", False)
    if not isinstance(learn, bool):
        fail("paper.learn_initial_state", f"expected true or false, got {learn!r}")
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        fail("paper.settings", "expected a mapping name -> value")
    try:
        settings = validate_options(cls, settings, model)
    except UsageError as exc:
        fail("paper.settings", str(exc))
    source = raw.get("source", "published")
    if source not in SOURCES:
        fail("paper.source", f"{source!r} is not one of {', '.join(SOURCES)}")
    reason = raw.get("reason", "")
    if not isinstance(reason, str):
        fail("paper.reason", "expected one line of text")
    return PaperProtocol(learn, settings, source, reason)
