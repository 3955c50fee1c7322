"""The model registry and its one resolver: built-in models, plug-ins, import paths.

A model name is one of

* a **built-in** model (``gru``, ``pc_rnn_hc_a``, ...);
* an **installed plug-in**: an entry point of the group ``rnn_capacity.models``
  (:data:`ENTRY_POINT_GROUP`) that names a :class:`CapacityModule` subclass, e.g. in the
  plug-in's ``pyproject.toml``::

      [project.entry-points."rnn_capacity.models"]
      mgu = "mgu_capacity:MGU"

  Its name is listed in :data:`rnn_capacity.models.MODELS` (and so in every ``--help``)
  as soon as the package is installed; its code is imported only when the model is used;
* an **import path** ``module:Class`` (``mypkg.cells:MyRNN``) of a class importable from
  ``sys.path`` (``PYTHONPATH``), installed or not.

:func:`resolve_model` turns any of them into ``(name, class)``; every command and
:func:`~rnn_capacity.measure.measure_capacity` go through it. Loading a plug-in imports
its module, which runs its code: name only code you trust.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from importlib import metadata

from ..errors import UsageError, one_line
from .antisymmetric import AntisymmetricRNN
from .base import CapacityModule
from .classic import MTRNN, SRNN, TRNN
from .esn import ESN
from .gated import GRU, LSTM, UGRNN
from .predictive_coding import PCRNNGC, PCRNNGCHCA, PCRNNGCHCM, PCRNNHCA, PCRNNHCM, PCRNNV

__all__ = [
    "BUILTIN_MODELS",
    "ENTRY_POINT_GROUP",
    "MODELS",
    "SPACE_HELP",
    "ModelRegistry",
    "is_model_name",
    "model_help",
    "model_slug",
    "resolve_model",
]

#: The entry-point group a plug-in package declares its models in.
ENTRY_POINT_GROUP = "rnn_capacity.models"
_IDENTIFIERS = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
IMPORT_PATH = re.compile(rf"({_IDENTIFIERS}):({_IDENTIFIERS})")
PLUGIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
HINT = "or a plug-in's import path module:Class"


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"distribution {dist.name}" if dist is not None else "an unknown distribution"


def check_model_class(obj, where: str) -> type[CapacityModule]:
    """``obj`` if it is a usable model class, else a UsageError saying what it is."""
    if not isinstance(obj, type) or not issubclass(obj, CapacityModule):
        what = "the class " if isinstance(obj, type) else "an object of type "
        what += obj.__qualname__ if isinstance(obj, type) else type(obj).__qualname__
        raise UsageError(
            f"{where}: not a CapacityModule subclass (rnn_capacity.models.CapacityModule) "
            f"but {what}"
        )
    missing = [m for m in ("init_weights", "step") if getattr(obj, m) is getattr(CapacityModule, m)]
    if missing:
        raise UsageError(f"{where}: {obj.__name__} does not implement {' and '.join(missing)}")
    return obj


class ModelRegistry(Mapping):
    """Name -> model class: the built-in models, then the installed plug-ins (by name).

    Plug-ins are discovered on first use (their names only: iterating or ``in`` loads no
    plug-in code); ``registry[name]`` imports a plug-in's class. :meth:`refresh` forgets
    what was discovered (after installing a plug-in into a running interpreter).
    """

    def __init__(self, builtins: Mapping[str, type[CapacityModule]]):
        self.builtins: dict[str, type[CapacityModule]] = dict(builtins)
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._loaded: dict[str, type[CapacityModule]] = {}

    def entry_points(self) -> dict[str, metadata.EntryPoint]:
        """The installed plug-ins' entry points by name; a broken set is a UsageError."""
        if self._entry_points is None:
            found: dict[str, metadata.EntryPoint] = {}
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                where = f"plug-in model {ep.name!r} ({_distribution(ep)}, entry point {ep.value})"
                if ep.name in self.builtins:
                    raise UsageError(
                        f"{where} clashes with the built-in model {ep.name}: rename the "
                        "entry point or uninstall the plug-in"
                    )
                if not PLUGIN_NAME.fullmatch(ep.name):
                    raise UsageError(f"{where}: not a usable model name (letters, digits, _ and -)")
                old = found.get(ep.name)
                if old is not None and old.value != ep.value:
                    raise UsageError(f"{where}: the name is also registered by {old.value}")
                found[ep.name] = ep
            self._entry_points = dict(sorted(found.items()))
        return self._entry_points

    def refresh(self) -> None:
        self._entry_points = None
        self._loaded.clear()

    def __getitem__(self, name: str) -> type[CapacityModule]:
        if name in self.builtins:
            return self.builtins[name]
        eps = self.entry_points()
        if name not in eps:
            raise KeyError(name)
        if name not in self._loaded:
            ep = eps[name]
            where = f"plug-in model {name!r} ({_distribution(ep)}, entry point {ep.value})"
            try:
                obj = ep.load()
            except Exception as exc:  # the plug-in's own code failed: one line, not a trace
                problem = f"{type(exc).__name__}: {one_line(exc)}"
                raise UsageError(f"{where}: cannot load ({problem})") from None
            self._loaded[name] = check_model_class(obj, where)
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.builtins or name in self.entry_points())

    def __iter__(self) -> Iterator[str]:
        yield from self.builtins
        yield from self.entry_points()

    def __len__(self) -> int:
        return len(self.builtins) + len(self.entry_points())

    def __repr__(self) -> str:
        return f"ModelRegistry({', '.join(self)})"


#: The fourteen built-in models, name -> LightningModule class.
BUILTIN_MODELS: dict[str, type[CapacityModule]] = {
    "srnn": SRNN,
    "trnn": TRNN,
    "mtrnn": MTRNN,
    "lstm": LSTM,
    "gru": GRU,
    "ugrnn": UGRNN,
    "antisymmetric_rnn": AntisymmetricRNN,
    "esn": ESN,
    "pc_rnn_v": PCRNNV,
    "pc_rnn_gc": PCRNNGC,
    "pc_rnn_hc_a": PCRNNHCA,
    "pc_rnn_hc_m": PCRNNHCM,
    "pc_rnn_gc_hc_a": PCRNNGCHCA,
    "pc_rnn_gc_hc_m": PCRNNGCHCM,
}
#: Name -> LightningModule class (a mapping), the built-in models first, then the installed
#: plug-ins (found on first use, imported when used). The single list used by the CLI, the
#: sweep and the tests; :func:`resolve_model` is the single way from a name (or import
#: path) to a class.
MODELS = ModelRegistry(BUILTIN_MODELS)


def resolve_model(name: str) -> tuple[str, type[CapacityModule]]:
    """``(name, class)`` of a built-in model, an installed plug-in or an import path
    ``module:Class``; anything else is a :class:`UsageError` of one line.

    The name returned is the one results are recorded under: the registry's name when the
    class is registered (``rnn_capacity.models.gated:GRU`` is ``gru``; an installed
    plug-in's import path is its entry point's name), else the import path itself.
    An import path is imported, which runs the module's code.
    """
    registry = MODELS
    if not isinstance(name, str):
        raise UsageError(f"a model name must be a string, got {name!r}")
    if name in registry:
        return name, registry[name]
    match = IMPORT_PATH.fullmatch(name.strip())
    if match is None:
        if ":" in name:
            raise UsageError(
                f"model {name!r}: an import path is module:Class, e.g. mypkg.cells:MyRNN"
            )
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(registry)} ({HINT})")
    module_name, attr = match.groups()
    path = f"{module_name}:{attr}"
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module's own code failing
        raise UsageError(
            f"model {path!r}: cannot import {module_name} ({type(exc).__name__}: {one_line(exc)})"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"model {path!r}: {module_name} has no attribute {attr}") from None
    cls = check_model_class(obj, f"model {path!r}")
    for known, klass in registry.builtins.items():
        if klass is cls:
            return known, cls
    for known, ep in registry.entry_points().items():
        if f"{ep.module}:{ep.attr}" == path:
            return known, registry[known]
    return path, cls


def is_model_name(name: object) -> bool:
    """A registered model or a well-formed import path, checked without importing
    anything (the report reads results; it runs no model code)."""
    return isinstance(name, str) and (name in MODELS or bool(IMPORT_PATH.fullmatch(name)))


def model_label(name: str) -> str:
    """The short name a figure or table shows for a recorded model name: a built-in
    class's own ``display_name`` (``pc_rnn_hc_a`` -> ``PC-RNN-HC-A``); an import path's
    class name (``mypkg.cells:Jordan`` -> ``Jordan``); a plug-in's registered name. Nothing
    is imported: reading results runs no model code."""
    cls = BUILTIN_MODELS.get(name)
    if cls is None:
        return name.rsplit(":", 1)[-1]
    return cls.__dict__.get("display_name") or cls.__name__


def model_slug(name: str) -> str:
    """``name`` as part of a file or directory name: an import path's ``:`` and ``.``
    become ``-`` (``mgu_capacity:MGU`` -> ``mgu_capacity-MGU``; no dot, which would read
    as a suffix); registered names stay as they are (letters, digits, ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


#: The help text of the commands' ``--space``.
SPACE_HELP = (
    "the model's search space, a YAML file in the format of the files in configs/ (default: "
    "configs/<model>.yaml, or the file a plug-in's class names in SEARCH_SPACE); the file's "
    "model: (optional here) is imported if it is a plug-in, which runs its code"
)


def model_help(what: str = "the model") -> str:
    """The help text of the commands' ``--model``: every registered name, and the rest."""
    return (
        f"{what}: one of {', '.join(MODELS)} (built-in, then installed plug-ins: entry "
        f"points {ENTRY_POINT_GROUP}), or a plug-in's import path module:Class, e.g. "
        "mypkg.cells:MyRNN, importable from PYTHONPATH. Loading a plug-in imports its module, "
        "which runs its code"
    )
