"""Property-based tests (Hypothesis) of everything the package reads from its users.

Generated input — YAML documents, JSON values, byte strings, arrays, numbers and text —
is either read as a valid result or refused with one :class:`UsageError` line naming
the file (and field) or the option; a command line exits 2 with exactly one ``error:``
line on stderr. Never another exception (TypeError, KeyError, UnicodeDecodeError,
OverflowError, RecursionError, ...).

- the search-space YAML loader (``--space FILE.yaml``): random YAML documents, YAML-ish
  text, mutations of ``configs/*.yaml``, random and mutated bytes;
- every record read back from disk (``space.json``, a line of ``evaluations.jsonl``,
  ``summary.json``, ``evaluation.json``, ``optimum.json``): random JSON values, mutations
  of the records of tests/data (a field replaced, removed or added, at any depth), random
  and mutated bytes; a record that reads writes and reads back the same;
- the trajectory loader (``.npy``): arrays of any shape, dtype and value (NaN, inf,
  beyond float32), crafted headers, random bytes;
- the command lines' checks: ``parse_value`` / ``parse_assignments``, the data
  generator's ``--set``, and the parse-and-resolve step of ``sweep``, ``study``,
  ``evaluate``, ``optimum`` (``find_optimum``'s checks) and ``train``.

Nothing here trains. The profiles are in tests/conftest.py: few examples by default,
many more with ``HYPOTHESIS_PROFILE=slow``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import example, given, note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from rnn_capacity.cli import parse_assignments, parse_value
from rnn_capacity.config import PRIORS, TYPES, load_search_config, write_search_config
from rnn_capacity.data import generator_knobs
from rnn_capacity.errors import UsageError, cli_main
from rnn_capacity.evaluate import build_parser as evaluate_parser
from rnn_capacity.evaluate import check as evaluate_check
from rnn_capacity.evaluate import plan_from_args
from rnn_capacity.models import BUILTIN_MODELS, MODELS
from rnn_capacity.models.registry import IMPORT_PATH
from rnn_capacity.optimum import MAX_GRID_POINTS, find_optimum
from rnn_capacity.optimum import build_parser as optimum_parser
from rnn_capacity.records import (
    Configuration,
    Evaluation,
    Optimum,
    SweepSpace,
    SweepSummary,
)
from rnn_capacity.study import build_parser as study_parser
from rnn_capacity.study import resolve as study_resolve
from rnn_capacity.sweep.cli import build_parser as sweep_parser
from rnn_capacity.sweep.cli import resolve_args as sweep_resolve
from rnn_capacity.sweep.journal import journal_line, read_evaluations
from rnn_capacity.sweep.settings import RANGES
from rnn_capacity.train import parse as train_parse
from rnn_capacity.trajectories import RAW_SHAPE, SUBSAMPLE, load_trajectories

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"
CONFIGS = ROOT / "configs"
OLD_SWEEP = DATA / "old_sweep_v0"
OLD_STUDY = DATA / "old_study_v0"
SHIPPED_DATA = ROOT / "data" / "trajectories_250.npy"
LONG_NAME = "x" * 300  # longer than a file name may be (ENAMETOOLONG)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One directory for the whole module: each example overwrites its files."""
    return tmp_path_factory.mktemp("properties")


# ------------------------------------------------------------------------- the checks


def one_line(message: str) -> None:
    assert message and len(message.splitlines()) == 1, repr(message)


def refused(exc: UsageError, where: str) -> None:
    """``exc`` is one line that names ``where`` first (a file, a line of a journal)."""
    message = str(exc)
    one_line(message)
    assert message.startswith(f"{where}: "), (where, message)


def command_line(step, argv: list[str]):
    """``step(argv)`` as a command runs it (``cli_main``): its result, or None where it
    exits 2 with exactly one ``error:`` line on stderr."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return cli_main(step)(argv)
    except SystemExit as exc:
        text = err.getvalue()
        with contextlib.suppress(InvalidArgument):  # outside @given there are no notes
            note(f"stderr: {text!r}")
        assert exc.code == 2, exc.code
        assert text.startswith("error: ") and text.endswith("\n"), repr(text)
        assert len(text.splitlines()) == 1, repr(text)
        return None


# ------------------------------------------------------------------------- strategies


def _names_no_module(text: str) -> bool:
    """Text that no resolver would import (a model ``module:Class`` imports ``module``)."""
    return not IMPORT_PATH.fullmatch(text.strip())


TEXT = st.text(max_size=20).filter(_names_no_module)
MODEL_NAMES = st.sampled_from(
    [*BUILTIN_MODELS, "", "SRNN", " srnn", "rnn_capacity.models.gated:GRU",
     "rnn_capacity.config:Dimension", "no_such_module_xyz:Model", "a:b:c", "srnn:"]
)  # fmt: skip
HUGE = st.sampled_from(
    [2**31, 2**63 - 1, 2**63, 2**64, 10**30, 10**308, 2 * 10**308, 10**400, -(10**400)]
)
INTEGERS = st.one_of(st.integers(), st.integers(-3, 300), HUGE)
SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, 1e308, 3.5e38, -0.0, 5e-324, 0.5, 1.5]
FLOATS = st.one_of(st.floats(), st.sampled_from(SPECIAL_FLOATS))
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, FLOATS, TEXT, MODEL_NAMES)

# Field names of the records and the search space, so that random dicts meet real fields.
FIELD_NAMES = sorted(
    {f for kind in (SweepSpace, SweepSummary, Evaluation, Optimum, Configuration)
     for f in kind.STORED}
    | {"format", "name", "type", "low", "high", "prior", "kind", "trainable", "per_sequence",
       "shared", "sizes", "calls", "space", "paper", "reason", "lr", "tau", "p"}
)  # fmt: skip
KEYS = st.one_of(st.sampled_from(FIELD_NAMES), TEXT)


def json_values(scalars=SCALARS, keys=KEYS):
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


JSON = json_values()
# YAML holds more than JSON: dates, bytes, keys of any type.
YAML_SCALARS = st.one_of(SCALARS, st.dates(), st.binary(max_size=6))
YAML_KEYS = st.one_of(KEYS, INTEGERS, st.floats(), st.none(), st.booleans(), st.dates())
YAML_VALUES = json_values(YAML_SCALARS, YAML_KEYS)
# Pieces of YAML syntax: anchors, aliases, tags, complex keys, flow and block collections.
YAML_TOKENS = st.sampled_from(
    ["model: ", "space:\n", "x0: ", "sizes: ", "calls: ", "fixed: ", "paper: ", "- ", "{",
     "}", "[", "]", ", ", ": ", "? ", "&a ", "*a", "<<: *a", "!!set ", "!!binary ",
     "!!python/object/apply:os.getcwd []", "!!float ", "!!str ", "'", '"', "|\n", ">\n",
     "# c\n", "\n", "  ", "p", "lr", "srnn", "1", "-1", "1e400", "9" * 400, ".nan", ".inf",
     "null", "true", "2001-01-01", "0x1F", "0o17", "~", "---\n", "...\n", "%YAML 1.1\n",
     "\t", "\x00", "\ufeff", "\x85", "\u2028", "!!bool ", "!!int ", "!!timestamp ", "x"]
)  # fmt: skip
YAML_TEXT = st.lists(st.one_of(YAML_TOKENS, TEXT), max_size=30).map("".join)


def node_paths(value, path=()):
    """Every node of a JSON/YAML tree, as the keys leading to it."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from node_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from node_paths(v, (*path, i))


def node(doc, path):
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutations(draw, good, values=JSON, keys=KEYS):
    """``good`` with one to three changes anywhere in it: a node replaced by a random
    value, a node removed, an extra field or item added."""
    doc = copy.deepcopy(good)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(node_paths(doc))))
        change = draw(st.sampled_from(["replace", "remove", "add"]))
        if change == "replace":
            if not path:
                doc = draw(values)
            else:
                node(doc, path[:-1])[path[-1]] = draw(values)
        elif change == "remove" and path:
            del node(doc, path[:-1])[path[-1]]
        elif change == "add":
            target = node(doc, path)
            if isinstance(target, dict):
                target[draw(keys)] = draw(values)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(values))
    return doc


@st.composite
def mutated_bytes(draw, good: bytes):
    """``good`` with bytes flipped, inserted, deleted, or cut short."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        change = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if change == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif change == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif change == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif change == "truncate":
            del data[at:]
    return bytes(data)


# ------------------------------------------------------------------ search-space YAML

SPACE_FILES = sorted(CONFIGS.glob("*.yaml"))
GOOD_SPACES = [yaml.safe_load(p.read_text()) for p in SPACE_FILES]


def check_config(config, path: Path, model: str | None) -> None:
    """A search space that loaded is one the sweep can use, and reads back the same."""
    assert config.model in MODELS
    assert all(type(s) is int and s >= 1 for s in config.sizes), config.sizes
    assert type(config.calls) is int and config.calls >= 1, config.calls
    assert config.space and len(set(config.names)) == len(config.names)
    for d in config.space:
        assert d.type in TYPES and d.prior in PRIORS
        assert math.isfinite(float(d.low)) and math.isfinite(float(d.high)) and d.low < d.high
        if d.type == "integer":
            assert type(d.low) is int and type(d.high) is int
        if d.prior == "log-uniform":
            assert d.low > 0
        assert d.low <= config.x0[d.name] <= d.high
    assert set(config.x0) == set(config.names)
    config.skopt_space()  # what the sweep's optimizer is built from, and its coordinates
    for point in (config.x0, {d.name: d.low for d in config.space},
                  {d.name: d.high for d in config.space}):  # fmt: skip
        assert all(0.0 <= x <= 1.0 for x in config.normalise(point)), point
    again = path.with_name("again.yaml")
    write_search_config(config, again)
    reread = load_search_config(again) if model is None else load_search_config(model, again)
    assert reread.to_dict() == config.to_dict()


def load_space(path: Path, model: str | None = None):
    """Load ``path`` (with ``model``: as that model's ``--space``), checking the outcome."""
    try:
        if model is None:
            config = load_search_config(path)
        else:
            config = load_search_config(model, space=path)
    except UsageError as exc:
        refused(exc, str(path))
        return None
    check_config(config, path, model)
    return config


LOAD_AS = st.sampled_from([None, "srnn", "pc_rnn_hc_a", "esn"])


@given(doc=YAML_VALUES, model=LOAD_AS)
@example(doc={"model": "srnn", "space": [{"name": "p", "low": 1, "high": 10**400}]}, model=None)
def test_a_random_yaml_document_loads_or_is_refused(scratch, doc, model):
    path = scratch / "space.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    load_space(path, model)


@given(text=YAML_TEXT, model=LOAD_AS)
@example(text="{[1, 2]: 3}", model=None)  # a key YAML reads as a list: unhashable
@example(text="a: {? [1]: 2}", model=None)
@example(text="? !!set {1: null}\n: 2", model="srnn")
@example(text="[" * 1000, model=None)  # nested deeper than Python's recursion
@example(text="a: " + "{a: " * 400 + "1" + "}" * 400, model=None)
@example(text="model: srnn\n'a\nb': 1\n", model=None)  # a key holding a line break
@example(text="calls: !!bool x", model=None)  # PyYAML's constructors: a KeyError,
@example(text="calls: !!int x", model=None)  # a ValueError,
@example(text="calls: !!timestamp x", model=None)  # an AttributeError,
@example(text='calls: !!int ""', model=None)  # an IndexError
@example(text="calls: " + "9" * 5000, model=None)  # an int Python will not read
def test_yaml_text_loads_or_is_refused(scratch, text, model):
    path = scratch / "space.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_space(path, model)


@given(data=st.data())
def test_a_mutated_search_space_loads_or_is_refused(scratch, data):
    good = data.draw(st.sampled_from(GOOD_SPACES), label="configs/*.yaml")
    doc = data.draw(mutations(good, YAML_VALUES, YAML_KEYS), label="document")
    model = data.draw(st.sampled_from([None, good["model"]]), label="model")
    path = scratch / "space.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    load_space(path, model)


GOOD_YAML = (CONFIGS / "srnn.yaml").read_text()
HUGE_BOUND = GOOD_YAML.replace("high: 1.0,", f"high: {10**400},")
BOOL_SIZE = GOOD_YAML.replace("sizes: [30", "sizes: [true")
TRNN_YAML = (CONFIGS / "trnn.yaml").read_text()
TAU = "{name: tau, type: real, low: 1.0, high: 100.0, prior: log-uniform}"


@given(data=st.one_of(st.binary(), mutated_bytes(GOOD_YAML.encode())), model=LOAD_AS)
@example(data=b"\x89PNG\r\n\x1a\n\x00\xff\xfe", model=None)
@example(data=HUGE_BOUND.encode(), model=None)  # an integer beyond float's range
@example(data=GOOD_YAML.replace("low: 1.0e-4", f"low: -{10**400}").encode(), model="srnn")
@example(data=GOOD_YAML.replace("calls: 300", "calls: true").encode(), model=None)
@example(data=BOOL_SIZE.encode(), model=None)  # true is no size
@example(data=TRNN_YAML.replace(TAU, f"{{name: tau, type: integer, low: 1, high: {2**64}}}")
         .encode(), model=None)  # beyond the optimizer's 64-bit integers  # fmt: skip
@example(data=TRNN_YAML.replace(TAU, "{name: tau, low: -1.0e+308, high: 1.0e+308}").encode(),
         model=None)  # high - low overflows  # fmt: skip
def test_bytes_as_a_search_space_load_or_are_refused(scratch, data, model):
    path = scratch / "space.yaml"
    path.write_bytes(data)
    load_space(path, model)


@pytest.mark.parametrize(
    "name", [LONG_NAME + ".yaml", "a\x00b.yaml", "", ".", "configs", "space.yml", "é" * 130]
)
def test_a_search_space_path_loads_or_is_refused(name):
    for model in (None, "srnn"):
        try:
            config = load_search_config(Path(name)) if model is None else (
                load_search_config(model, space=Path(name)))  # fmt: skip
        except UsageError as exc:
            one_line(str(exc))
        else:
            assert config.model in MODELS


# --------------------------------------------------------------------------- records


def _json(path: Path):
    return json.loads(path.read_text())


RECORDS = {
    SweepSpace: [OLD_SWEEP / "space.json", OLD_STUDY / "sweeps" / "srnn_4" / "space.json"],
    SweepSummary: [OLD_SWEEP / "summary.json", OLD_STUDY / "sweeps" / "srnn_4" / "summary.json"],
    Evaluation: [
        DATA / "old_evaluation_v0" / "evaluation.json",
        OLD_STUDY / "evaluations" / "srnn_4" / "evaluation.json",
    ],
    Optimum: [DATA / "old_surrogate_optimum_v0.json", OLD_STUDY / "evaluations" / "srnn_4" /
              "optimum.json"],
}  # fmt: skip
# Each record as the earlier version wrote it, and as today's code writes it.
GOOD = {kind: [d for p in paths for d in (_json(p), {"format": 1} | _json(p))]
        for kind, paths in RECORDS.items()}  # fmt: skip
KINDS = list(RECORDS)
KIND_IDS = [k.__name__ for k in KINDS]


def read_record(kind, path: Path):
    """Read ``path`` as ``kind``, checking the outcome: a record that reads writes and
    reads back the same."""
    try:
        record = kind.read(path)
    except UsageError as exc:
        refused(exc, str(path))
        return None
    assert type(record) is kind
    again = path.with_name("again.json")
    record.write(again)
    assert kind.read(again) == record
    return record


def write_json_value(path: Path, value) -> None:
    """``value`` as ``json`` writes it, NaN and infinity included (``json`` reads them)."""
    path.write_text(json.dumps(value))


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@given(value=JSON)
@example(value={"format": 1.0})
@example(value={"hidden_size": 10**400})
def test_a_random_json_value_reads_as_a_record_or_is_refused(scratch, kind, value):
    path = scratch / "record.json"
    write_json_value(path, value)
    read_record(kind, path)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@given(data=st.data())
def test_a_mutated_record_reads_or_is_refused(scratch, kind, data):
    good = data.draw(st.sampled_from(GOOD[kind]), label="record")
    path = scratch / "record.json"
    write_json_value(path, data.draw(mutations(good), label="content"))
    read_record(kind, path)


DIGITS = "1" * 5000  # an integer Python refuses to read (more than 4300 digits)
SPACE = _json(OLD_SWEEP / "space.json")
INT64_DIMENSION = json.dumps(SPACE | {"dimensions": [SPACE["dimensions"][0] | {"high": 2**64},
                                                     SPACE["dimensions"][1]]})  # fmt: skip
WIDE_DIMENSION = json.dumps(SPACE | {"dimensions": [SPACE["dimensions"][0], {
    "name": "lr", "type": "real", "low": -1e308, "high": 1e308, "prior": "uniform"}]})  # fmt: skip
HUGE_DIMENSION = json.dumps(SPACE | {"dimensions": [SPACE["dimensions"][0] | {"high": 10**400},
                                                    SPACE["dimensions"][1]]})  # fmt: skip


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@given(data=st.data())
def test_bytes_as_a_record_read_or_are_refused(scratch, kind, data):
    good = json.dumps(data.draw(st.sampled_from(GOOD[kind]), label="record"), indent=2)
    path = scratch / "record.json"
    path.write_bytes(data.draw(st.one_of(st.binary(), mutated_bytes(good.encode()))))
    read_record(kind, path)


EVALUATION = _json(RECORDS[Evaluation][0])
OPTIMUM = _json(RECORDS[Optimum][0])
DEEP = '{"a": ' * 900 + "1" + "}" * 900  # within json's recursion limit, not a record's


@pytest.mark.parametrize(
    ("kind", "text", "named"),
    [
        (SweepSpace, f'{{"hidden_size": {DIGITS}}}', "Exceeds the limit (4300 digits)"),
        (SweepSummary, f"[{DIGITS}]", "Exceeds the limit (4300 digits)"),
        (SweepSpace, HUGE_DIMENSION, "p.high: missing or not a float"),  # an int of 1e400
        (SweepSpace, INT64_DIMENSION, "p: integer bounds"),  # beyond the optimizer's
        (SweepSpace, WIDE_DIMENSION, "lr: bounds"),  # uniform over ±1e308: high - low overflows
        (SweepSpace, json.dumps(SPACE | {"threshold": 10**400}), "threshold: missing or not"),
        (SweepSpace, json.dumps(SPACE | {"x0": {"p": 10**400, "lr": 0.01}}), "x0.p: missing"),
        (SweepSpace, json.dumps(SPACE | {"extra\nfield": 1}), "'extra\\nfield': not a field"),
        (SweepSpace, json.dumps(SPACE | {"fixed": {"a": json.loads(DEEP)}}), "nested more than"),
        (Evaluation, json.dumps(EVALUATION | {"hparams": {"a\u2028b": "x"}}), None),  # reads
        (Optimum, json.dumps(OPTIMUM | {"hparams": {"a\u2028b": "x"}}), "'hparams.a\\u2028b'"),
        (Optimum, "[" * 100_000, "maximum recursion depth exceeded"),
        (SweepSummary, '{"a": ' * 5000 + "1" + "}" * 5000, "maximum recursion depth exceeded"),
    ],
    ids=["digits", "digits-in-list", "huge-dimension", "int64-dimension", "wide-dimension",
         "huge-threshold", "huge-x0", "newline-field", "deep-setting", "line-separator-in-a-key",
         "line-separator-in-a-bad-key", "deep", "deep-object"],
)  # fmt: skip
def test_a_record_at_the_edges_reads_or_is_refused(tmp_path, kind, text, named):
    """Each refused with one line saying why (``named``), or read (None)."""
    path = tmp_path / "record.json"
    path.write_text(text)
    if named is None:
        assert read_record(kind, path) is not None
    else:
        with pytest.raises(UsageError) as exc:
            kind.read(path)
        refused(exc.value, str(path))
        assert named in str(exc.value), str(exc.value)


# ---------------------------------------------------------------------- the journal

JOURNAL = OLD_SWEEP / "evaluations.jsonl"
LINES = [json.loads(line) for line in JOURNAL.read_text().splitlines()]
FAILED = json.loads((DATA / "old_failed_record_v0.jsonl").read_text())
GOOD_LINES = [*LINES, FAILED, *({"format": 1} | line for line in LINES)]


def read_line(line: str, n: int, path: Path = JOURNAL):
    """Line ``n`` of a journal of a 2-D space, checking the outcome (nothing is written)."""
    try:
        record = journal_line(line, n, 2, path)
    except UsageError as exc:
        refused(exc, f"{path}: line {n}")
        return None
    assert type(record) is Configuration and record.index == n - 1 and len(record.x) == 2
    assert journal_line(record.to_line(), n, 2, path) == record
    return record


@st.composite
def journal_lines(draw) -> tuple[str, int]:
    """A line and its number: a mutated record at its own line, or anything at any line."""
    if draw(st.booleans()):
        good = draw(st.sampled_from(GOOD_LINES))
        return json.dumps(draw(mutations(good))), good["index"] + 1
    line = draw(st.one_of(JSON.map(json.dumps), YAML_TEXT,
                          st.binary().map(lambda b: b.decode(errors="replace"))))  # fmt: skip
    return line, draw(st.integers(1, 5))


@given(line=journal_lines())
@example(line=(f'{{"index": {DIGITS}}}', 1))
@example(line=("[" * 100_000, 1))
@example(line=(json.dumps(LINES[0] | {"x": [10**400, 0.01]}), 1))
def test_a_journal_line_reads_or_is_refused(line):
    read_line(*line)


@given(
    content=st.one_of(
        st.binary(),
        mutated_bytes(JOURNAL.read_bytes()),
        st.lists(st.sampled_from(GOOD_LINES).flatmap(mutations).map(json.dumps), max_size=4).map(
            lambda lines: "\n".join(lines).encode()
        ),
    )
)
@example(content=JOURNAL.read_bytes() + DIGITS.encode())
def test_a_journal_reads_or_is_refused(scratch, content):
    path = scratch / "evaluations.jsonl"
    path.write_bytes(content)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # a dropped last line warns
            records = read_evaluations(path, 2)
    except UsageError as exc:
        one_line(str(exc))
        assert str(exc).startswith(f"{path}: line "), str(exc)
        return
    assert [r.index for r in records] == list(range(len(records)))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # what it kept reads again, without a warning
        assert read_evaluations(path, 2) == records
    assert not err.getvalue()


# ------------------------------------------------------------------------ trajectories


def expected_trajectories(array: np.ndarray) -> np.ndarray | None:
    """What the loader must make of ``array``: the benchmark's targets, or None (refused)."""
    if array.dtype.kind not in "fiu" or array.shape != RAW_SHAPE:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        wide = array.astype(np.float64)
        single = wide.astype(np.float32)
    if not (np.isfinite(wide).all() and np.isfinite(single).all()):
        return None
    return np.ascontiguousarray(single[:, ::SUBSAMPLE].transpose(1, 0, 2))


def load_npy(path: Path, expected: np.ndarray | None) -> None:
    try:
        kept = load_trajectories(path)
    except UsageError as exc:
        refused(exc, str(path))
        assert expected is None, f"refused a valid array: {exc}"
        return
    assert expected is not None, "loaded an invalid array"
    assert kept.dtype == np.float32 and kept.shape == (RAW_SHAPE[1] // SUBSAMPLE, RAW_SHAPE[0], 2)
    np.testing.assert_array_equal(kept, expected)


DTYPES = st.sampled_from(
    ["<f2", "<f4", ">f4", "<f8", ">f8", "<f16", "|i1", "<i2", "<i8", ">i8", "|u1", "<u8", "|b1",
     "<c8", "<c16", "<U2", "|S3", "<M8[s]", "<m8[ms]", [("x", "<f8"), ("y", "<f8")]]
)  # fmt: skip
SHAPES = st.one_of(
    st.just(RAW_SHAPE),
    st.sampled_from([(250, 1200), (250, 1200, 3), (1200, 250, 2), (250, 1200, 2, 1),
                     (249, 1200, 2), (0, 1200, 2)]),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
)  # fmt: skip


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # hnp's
@given(data=st.data())
def test_an_array_loads_as_trajectories_or_is_refused(scratch, data):
    dtype = np.dtype(data.draw(DTYPES, label="dtype"))
    shape = data.draw(SHAPES, label="shape")
    # Mostly ordinary coordinates, with a few values anywhere (NaN, inf, huge, ...).
    if dtype.kind == "f":
        fill = st.one_of(st.floats(-1.5, 1.5, width=min(8 * dtype.itemsize, 64)),
                         st.sampled_from([np.nan, np.inf, 1e39]))  # fmt: skip
    else:
        fill = None
    array = data.draw(hnp.arrays(dtype, shape, fill=fill), label="array")
    if data.draw(st.booleans(), label="fortran order"):
        array = np.asfortranarray(array)
    path = scratch / "trajectories.npy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.save(path, array, allow_pickle=False)
    load_npy(path, expected_trajectories(array))


def npy_header(descr, fortran_order, shape, version: bytes = b"\x01\x00") -> bytes:
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran_order!r}, 'shape': {shape!r}, }}"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    size = len(header).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    return b"\x93NUMPY" + version + size + header.encode("latin-1", errors="replace")


@st.composite
def crafted_npy(draw) -> bytes:
    """A ``.npy`` header of any content (bounded: no header asks for more than 10**8
    values), then any payload."""
    descr = draw(st.one_of(DTYPES, st.sampled_from(["|O", "|V4", "x", "", "<f8'", "<f8 "]),
                           TEXT))  # fmt: skip
    shape = draw(st.one_of(
        st.just(RAW_SHAPE),
        st.lists(st.integers(-2, 2000), max_size=4).map(tuple).filter(
            lambda s: math.prod(s) <= 10**8),
        st.sampled_from([None, "shape", (1.5,), (True,)]),
    ))  # fmt: skip
    fortran = draw(st.sampled_from([False, True, 0, "no"]))
    version = draw(st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x00"]))
    return npy_header(descr, fortran, shape, version) + draw(st.binary(max_size=64))


@given(content=st.one_of(st.binary(), crafted_npy()))
@example(content=npy_header("<f8", False, (10**11,)))  # 745 GiB asked for
@example(content=npy_header("|O", False, RAW_SHAPE))  # a pickled array: never unpickled
@example(content=npy_header("<f8", False, RAW_SHAPE) + b"\x00" * 64)  # cut short
def test_bytes_as_trajectories_are_refused(scratch, content):
    path = scratch / "trajectories.npy"
    path.write_bytes(content)
    load_npy(path, None)


@pytest.mark.parametrize(
    "name",
    [LONG_NAME + ".npy", "a\x00b.npy", "missing.npy", ".npy", "data.txt", "é" * 130 + ".npy"],
)
def test_a_trajectory_path_is_refused(name):
    with pytest.raises(UsageError) as exc:
        load_trajectories(name)
    one_line(str(exc.value))


def test_a_valid_trajectory_file_loads():
    load_npy(SHIPPED_DATA, expected_trajectories(np.load(SHIPPED_DATA)))


# ------------------------------------------------------------------------- --set values

NUMBER_TEXT = st.one_of(
    INTEGERS.map(str),
    FLOATS.map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e400", "0x10", "1_000", "١٢", "²", " 7 ",
                     "", "-0", "+5", "1e-3", "9" * 5000, "true", "null", "1,2", "3.0"]),
    TEXT,
)  # fmt: skip
VALUE_TEXT = st.one_of(NUMBER_TEXT, YAML_TEXT)


@given(n=st.integers(-(10**300), 10**300))
def test_parse_value_reads_an_integer(n):
    value = parse_value(str(n))
    assert type(value) is int and value == n


@given(x=st.floats())
def test_parse_value_reads_a_float(x):
    value = parse_value(repr(x))
    assert type(value) is float and (value == x or (math.isnan(x) and math.isnan(value)))


@given(text=VALUE_TEXT)
@example(text="[" * 1000)
@example(text="&a [*a]")  # a list that holds itself
@example(text="{[1]: 2}")
@example(text="!!bool x")
@example(text="!!timestamp x")
@example(text='!!int ""')
def test_parse_value_gives_a_value_or_one_usage_error(text):
    try:
        parse_value(text)
    except UsageError as exc:
        one_line(str(exc))


ASSIGNMENT = st.one_of(
    st.tuples(st.one_of(st.sampled_from(["lr", "tau", "p", "teacher_forcing", " lr "]), TEXT),
              VALUE_TEXT).map("=".join),
    TEXT,
)  # fmt: skip


@given(items=st.lists(ASSIGNMENT, max_size=5))
@example(items=["lr=" + "[" * 1000])
@example(items=["=1"])
def test_parse_assignments_gives_a_dict_or_one_usage_error(items):
    try:
        out = parse_assignments(items)
    except UsageError as exc:
        one_line(str(exc))
        assert str(exc).startswith("--set "), str(exc)
        return
    assert isinstance(out, dict) and all(isinstance(k, str) for k in out)
    assert len(out) <= len(items)


@given(
    style=st.sampled_from(["polyline", "spline"]),
    items=st.lists(
        st.tuples(st.sampled_from(["vertices", "run", "slowing", "box", "hop", "tremor", "x"]),
                  st.lists(NUMBER_TEXT, min_size=1, max_size=3).map(",".join)).map("=".join),
        max_size=3,
    ),
)  # fmt: skip
@example(style="polyline", items=["slowing=" + "9" * 400])  # an int beyond float's range
@example(style="polyline", items=["vertices=40," + "9" * 400])
def test_generator_knobs_give_numbers_or_one_usage_error(style, items):
    try:
        knobs = generator_knobs(style, items)
    except UsageError as exc:
        one_line(str(exc))
        return
    for value in knobs.values():
        values = value if isinstance(value, tuple) else (value,)
        assert 1 <= len(values) <= 2
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in values)


# ------------------------------------------------------------------------- commands


@st.composite
def command_args(draw, options: dict, required: tuple = ()) -> list[str]:
    """An argument list: some of ``options`` (flag -> strategy of its value text, or None
    for a switch), each as ``--flag value`` or ``--flag=value``; the ``required`` ones
    mostly present."""
    argv = []
    for flag, values in options.items():
        if not draw(
            st.booleans() if flag not in required else st.sampled_from([True] * 5 + [False])
        ):
            continue
        if values is None:
            argv.append(flag)
        elif isinstance(values, list):  # nargs="+"
            items = draw(st.lists(values[0], min_size=0, max_size=3))
            argv += [flag, *items]
        elif draw(st.booleans()):
            argv.append(f"{flag}={draw(values)}")
        else:
            argv += [flag, draw(values)]
    return argv


MODEL_ARG = st.one_of(MODEL_NAMES, TEXT)
PATH_TEXT = st.one_of(st.sampled_from(["", ".", "-", LONG_NAME]), TEXT)
SPACE_ARG = st.one_of(
    st.sampled_from([str(p) for p in (CONFIGS / "srnn.yaml", CONFIGS / "gru.yaml",
                                      CONFIGS / "esn.yaml", DATA / "README.md",
                                      OLD_SWEEP / "space.json", CONFIGS)]),
    st.sampled_from(["missing.yaml", LONG_NAME + ".yaml", ""]),
    TEXT,
)  # fmt: skip
DATA_ARG = st.one_of(
    st.sampled_from([str(SHIPPED_DATA), str(DATA / "README.md"), str(OLD_SWEEP / "surrogate.pk"),
                     "missing.npy", LONG_NAME + ".npy", ""]),
    TEXT,
)  # fmt: skip
ACCELERATOR = st.sampled_from(["auto", "cpu", "gpu", "tpu", ""])
# Not ray: importing it takes seconds; its checks come before the import.
EXECUTOR = st.sampled_from(["local", "process", "", "threads"])

SWEEP_OPTIONS = {
    "--model": MODEL_ARG,
    "--hidden-size": NUMBER_TEXT,
    "--preset": st.sampled_from(["quick", "paper", "fast"]),
    "--space": SPACE_ARG,
    "--calls": NUMBER_TEXT,
    "--tries": NUMBER_TEXT,
    "--batch-size": NUMBER_TEXT,
    "--initial-points": NUMBER_TEXT,
    "--iterations": NUMBER_TEXT,
    "--seed": NUMBER_TEXT,
    "--threshold": NUMBER_TEXT,
    "--workers": NUMBER_TEXT,
    "--executor": EXECUTOR,
    "--address": TEXT,
    "--accelerator": ACCELERATOR,
    "--data": DATA_ARG,
    "--out": PATH_TEXT,
    "--log-dir": PATH_TEXT,
    "--resume": None,
    "--compile": None,
    "--learn-initial-state": None,
    "--fixed-initial-state": None,
    "--sequential-tries": None,
    "--batched-tries": None,
}


def sweep_step(argv):
    return sweep_resolve(sweep_parser().parse_args(argv))


@given(argv=command_args(SWEEP_OPTIONS, ("--model", "--hidden-size")))
@example(argv=["--model", "srnn", "--hidden-size", "4", "--calls", str(10**400)])
@example(argv=["--model", "srnn", "--hidden-size", "4", "--threshold", "nan"])
@example(argv=["--model", "srnn", "--hidden-size", "4", "--space", LONG_NAME + ".yaml"])
@example(argv=["--model", "srnn", "--hidden-size", "4", "--data", LONG_NAME + ".npy"])
@example(argv=["--model", "srnn", "--hidden-size", "٤"])
def test_the_sweep_resolves_its_arguments_or_exits_with_one_line(argv):
    resolved = command_line(sweep_step, argv)
    if resolved is None:
        return
    settings, config = resolved
    for name, (low, high) in RANGES.items():
        value = getattr(settings, name)
        assert type(value) is int and low <= value <= high, (name, value)
    assert 0 < settings.threshold < math.inf
    assert config.model == settings.model and "p" in config.names


STUDY_OPTIONS = {
    "--preset": st.sampled_from(["quick", "paper", "full"]),
    "--models": [MODEL_ARG],
    "--space": st.one_of(SPACE_ARG, st.tuples(MODEL_ARG, SPACE_ARG).map("=".join)),
    "--sizes": [NUMBER_TEXT],
    "--out": PATH_TEXT,
    "--log-dir": PATH_TEXT,
    "--data": DATA_ARG,
    "--seed": NUMBER_TEXT,
    "--calls": NUMBER_TEXT,
    "--iterations": NUMBER_TEXT,
    "--tries": NUMBER_TEXT,
    "--batch-size": NUMBER_TEXT,
    "--seeds": NUMBER_TEXT,
    "--resolution": NUMBER_TEXT,
    "--executor": EXECUTOR,
    "--workers": NUMBER_TEXT,
    "--address": TEXT,
    "--concurrent": NUMBER_TEXT,
    "--optimum": st.sampled_from(["surrogate", "observed", "best"]),
}


def study_step(argv):
    return study_resolve(study_parser().parse_args(argv))


@given(argv=command_args(STUDY_OPTIONS, ("--models",)))
@example(argv=["--models", "srnn", "--space", LONG_NAME + ".yaml"])
@example(argv=["--models", "srnn", "gru", "--space", "srnn=" + LONG_NAME + ".yaml"])
@example(argv=["--models", "srnn", "--sizes", str(10**400), "--seed", "-1"])
def test_the_study_resolves_its_arguments_or_exits_with_one_line(argv):
    resolved = command_line(study_step, argv)
    if resolved is None:
        return
    cells, opts = resolved
    assert cells and all(c.model in MODELS and 1 <= c.hidden_size <= 100_000 for c in cells)
    assert opts.seed >= 0 and 1 <= opts.concurrent <= 256
    for name in ("calls", "iterations", "tries", "batch_size", "seeds", "resolution"):
        value = getattr(opts, name)
        assert value is None or type(value) is int and value >= 1, (name, value)


@pytest.mark.parametrize(
    "extra", [["--seeds", "100000"], ["--preset", "paper", "--resolution", "100000"]],
    ids=["seeds", "resolution"],
)  # fmt: skip
def test_the_study_refuses_at_its_start_what_its_stages_refuse(extra):
    argv = ["--models", "srnn", "--sizes", "4", *extra]
    assert command_line(study_step, argv) is None


EVALUATE_RESOLUTION = st.one_of(
    st.integers(max_value=4).map(str),
    st.integers(min_value=31_623).map(str),  # a 2-D grid beyond MAX_GRID_POINTS
    HUGE.map(str),
    st.sampled_from(["nan", "inf", "2.5", "", "x"]),
)
SOURCE_DIRS = st.sampled_from(
    [str(OLD_SWEEP), str(DATA), str(DATA / "README.md"), "missing_sweep", ""]
)
EVALUATE_OPTIONS = {
    "--model": MODEL_ARG,
    "--space": SPACE_ARG,
    "--hidden-size": NUMBER_TEXT,
    "--from": st.one_of(SOURCE_DIRS, st.text(max_size=30).filter(_names_no_module)),
    "--reference": None,
    "--set": st.one_of(ASSIGNMENT, st.sampled_from(["p=3", "p=1", "p=251", "p=2.0", "lr=0.1"])),
    "--seeds": NUMBER_TEXT,
    "--seed-base": NUMBER_TEXT,
    "--iterations": NUMBER_TEXT,
    "--learn-initial-state": None,
    "--fixed-initial-state": None,
    "--resolution": EVALUATE_RESOLUTION,
    "--data": DATA_ARG,
    "--out": PATH_TEXT,
    "--log-dir": PATH_TEXT,
    "--log-group": TEXT,
    "--max-ensemble": NUMBER_TEXT,
    "--accelerator": ACCELERATOR,
    "--force": None,
    "--json": None,
}


def evaluate_step(argv):
    args = evaluate_parser().parse_args(argv)
    plan = plan_from_args(args)
    return plan, evaluate_check(plan, args)


@given(
    argv=command_args(EVALUATE_OPTIONS, ("--model", "--hidden-size")),
    more_sets=st.lists(ASSIGNMENT, max_size=3),
)
@example(argv=["--model", "srnn", "--hidden-size", "4", "--set", "p=3"], more_sets=[])
@example(argv=["--from", str(OLD_SWEEP), "--resolution", str(10**200)], more_sets=[])
@example(argv=["--model", "srnn", "--hidden-size", "4", "--set", "p=3", "--seed-base",
               str(2**63)], more_sets=[])  # fmt: skip
@example(argv=["--model", "gru", "--hidden-size", "60", "--reference", "--data",
               LONG_NAME + ".npy"], more_sets=[])  # fmt: skip
def test_evaluate_plans_from_its_arguments_or_exits_with_one_line(argv, more_sets):
    for item in more_sets:  # --set is repeatable
        argv = [*argv, "--set", item]
    resolved = command_line(evaluate_step, argv)
    if resolved is None:
        return
    plan, seeds = resolved
    assert plan.model in MODELS
    assert 1 <= len(seeds) <= 10_000 and all(0 <= s <= 2**63 - 1 for s in seeds)


def test_evaluate_from_a_too_long_name_is_one_line():
    assert command_line(evaluate_step, ["--from", LONG_NAME]) is None


# find_optimum's checks. A valid resolution or refine computes: those drawn stay small
# (a 2-D grid of res 50..31622 is slow, not wrong); the others are any value.
NOT_AN_INTEGER = st.one_of(FLOATS, st.booleans(), TEXT, st.just(None), st.just([3]))
RESOLUTIONS = st.one_of(
    st.integers(max_value=4), st.integers(min_value=31_623), HUGE, NOT_AN_INTEGER
)
REFINES = st.one_of(
    st.none(), st.integers(max_value=4), st.integers(min_value=45_000_000), HUGE, NOT_AN_INTEGER
)
OPTIMUM_SOURCES = st.sampled_from(
    [OLD_SWEEP, OLD_SWEEP / "surrogate.pk", DATA / "missing", DATA / "README.md", DATA]
)


@given(
    source=OPTIMUM_SOURCES,
    resolution=RESOLUTIONS,
    refine=REFINES,
    hidden_size=st.one_of(st.none(), st.just(4), INTEGERS, NOT_AN_INTEGER),
    model=st.one_of(st.none(), st.just("srnn"), MODEL_NAMES),
)
@example(source=OLD_SWEEP, resolution=10**200, refine=None, hidden_size=None, model=None)
@example(source=OLD_SWEEP, resolution=3, refine=10**400, hidden_size=None, model=None)
@example(source=OLD_SWEEP, resolution=3, refine=None, hidden_size="4", model=None)
@example(source=OLD_SWEEP / "surrogate.pk", resolution=3, refine=None, hidden_size=2.5,
         model=None)  # fmt: skip
def test_find_optimum_checks_its_arguments(source, resolution, refine, hidden_size, model):
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            optimum = find_optimum(source, model, hidden_size, resolution, refine, progress=False)
    except UsageError as exc:
        one_line(str(exc))
        return
    assert type(optimum) is Optimum
    assert type(optimum.resolution) is int and 2 <= optimum.resolution
    assert optimum.resolution ** len(optimum.grid_point) <= MAX_GRID_POINTS
    assert optimum.hidden_size is None or type(optimum.hidden_size) is int
    Optimum.from_dict(optimum.to_json(), "optimum")  # what it found is a valid record


def optimum_step(argv):
    args = optimum_parser().parse_args(argv)
    return find_optimum(
        args.source, args.model, args.hidden_size, args.resolution, args.refine, progress=False
    )


@given(
    argv=command_args(
        {
            "--resolution": RESOLUTIONS.map(str),
            "--refine": REFINES.map(str),
            "--hidden-size": NUMBER_TEXT,
            "--model": MODEL_ARG,
        }
    ),
    source=OPTIMUM_SOURCES.map(str),
)
def test_the_optimum_command_checks_its_arguments(argv, source):
    optimum = command_line(optimum_step, [source, *argv])
    assert optimum is None or type(optimum) is Optimum


TRAIN_OPTIONS = {
    "--model": MODEL_ARG,
    "--hidden-size": NUMBER_TEXT,
    "--num-sequences": NUMBER_TEXT,
    "--iterations": NUMBER_TEXT,
    "--seed": NUMBER_TEXT,
    "--set": ASSIGNMENT,
    "--fixed-initial-state": None,
    "--threshold": NUMBER_TEXT,
    "--data": DATA_ARG,
    "--accelerator": ACCELERATOR,
    "--log-dir": PATH_TEXT,
    "--no-progress": None,
    "--compile": None,
    "--json": None,
    # Not LONG_NAME: test_train_with_a_too_long_checkpoint_name_is_one_line.
    "--checkpoint": st.one_of(TEXT, st.just(str(OLD_SWEEP / "best.ckpt"))),
    "--no-checkpoint": None,
    "--force": None,
}


def train_step(argv):
    """``train``'s steps before the training (parse, --set, --checkpoint)."""
    return train_parse(argv)


@given(argv=command_args(TRAIN_OPTIONS, ("--model", "--hidden-size", "--num-sequences")))
@example(argv=["--model", "srnn", "--hidden-size", "4", "--num-sequences", "3", "--set",
               "lr=" + "[" * 1000])  # fmt: skip
def test_train_parses_its_arguments_or_exits_with_one_line(argv):
    resolved = command_line(train_step, argv)
    if resolved is None:
        return
    args, hparams = resolved
    assert type(args.hidden_size) is int and type(args.num_sequences) is int
    assert isinstance(args.threshold, float) and isinstance(hparams, dict)


def test_train_with_a_too_long_checkpoint_name_is_one_line():
    argv = ["--model", "srnn", "--hidden-size", "4", "--num-sequences", "3"]
    assert command_line(train_step, [*argv, "--checkpoint", LONG_NAME + ".ckpt"]) is None
