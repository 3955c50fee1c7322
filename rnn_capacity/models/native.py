"""The leaky time loops in C++: built on first use, or the Python loop, with one line.

The hand-written BPTT (:mod:`.bptt`) runs its time loop from Python: per step and
direction three or four ATen calls, each a Python call and a dispatch, each elementwise
op its own pass over memory. For the leaky loops with a linear drive — sRNN, TRNN,
MTRNN, PC-RNN-V, PC-RNN-HC-A, and with velocity PC-RNN-GC-HC-A — ``native_loops.cpp``
does per step one batched product and one fused, vectorised pass over the elements,
without returning to Python. Its results agree with the Python loop to float rounding
(the elementwise ops are fused, so not bit for bit); the contract's
``check_hand_written_bptt`` holds it to autograd's loop like the Python one
(``tests/test_native.py``), and ``bench/step_cost.py`` measures it.

It is built with ``torch.utils.cpp_extension`` the first time a process needs it (about
a minute; then cached in torch's extension directory, ``TORCH_EXTENSIONS_DIR``, and
loaded in well under a second), so it is worth it in long work: the ``paper`` sweep
preset switches it on (a sweep's ``--native`` / ``--no-native``; a study follows its preset), a
library call or a quick search does not. It is used when all of these hold:

* :func:`enabled` (``set_enabled(True)``, or ``RNN_CAPACITY_NATIVE=1`` in the
  environment, switches it on for the process);
* the tensors are float32 on the CPU, and the CPU has AVX2 (the vectorised code's
  instruction set; torch reports it as its CPU capability);
* a C++ compiler and ``ninja`` are found and the build succeeds.

Otherwise the Python loop runs, and the first time one line on stderr says why.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
from pathlib import Path

import torch

__all__ = ["available", "enabled", "enabled_as", "loops", "set_enabled"]

SOURCE = Path(__file__).with_name("native_loops.cpp")
#: The instruction sets the vectorised code is compiled for (torch's CPU capability).
CAPABLE = ("AVX2", "AVX512")
FLAGS = ["-O3", "-mavx2", "-mfma", "-DCPU_CAPABILITY_AVX2", "-DCPU_CAPABILITY=AVX2"]

_enabled = os.environ.get("RNN_CAPACITY_NATIVE", "0") in ("1", "true", "yes")


def set_enabled(on: bool) -> None:
    """Use the C++ loops where they apply, or never (the default), in this process."""
    global _enabled
    _enabled = bool(on)


def enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def enabled_as(on: bool):
    """The C++ loops on or off inside the block, then as before: a sweep training in its
    driver's process leaves the library's default (off) as it found it."""
    before = _enabled
    set_enabled(on)
    try:
        yield
    finally:
        set_enabled(before)


def applies(*tensors: torch.Tensor) -> bool:
    """Whether the C++ loops may run on these tensors (and are switched on)."""
    return _enabled and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def why_not() -> str | None:
    """Why this machine cannot build the loops, or None if it can try."""
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in CAPABLE:
        return f"the CPU's vector capability is {capability}, not AVX2"
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ({compiler}) on PATH"
    try:
        # torch's build tools, imported only where a build is considered.
        from torch.utils.cpp_extension import verify_ninja_availability

        verify_ninja_availability()
    except RuntimeError:
        return "ninja is not installed (pip install ninja)"
    return None


@functools.cache
def loops():
    """The built module (``leaky_forward``, ``leaky_backward``), or None."""
    reason = why_not()
    if reason is None:
        try:
            from torch.utils.cpp_extension import load  # (heavy: only when building)

            return load(
                name="rnn_capacity_native_loops",
                sources=[str(SOURCE)],
                extra_cflags=FLAGS,
                verbose=False,
            )
        except Exception as exc:  # a compiler error, a locked or read-only cache, ...
            reason = f"its build failed ({str(exc).strip().splitlines()[-1][:200]})"
    print(f"note: the C++ time loop is not used: {reason}; the Python loop runs", file=sys.stderr)
    return None


def available() -> bool:
    """Whether the C++ loops are switched on and built (building them if need be)."""
    return _enabled and loops() is not None
