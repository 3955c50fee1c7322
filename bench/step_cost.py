"""The cost of one training iteration, method against method, side by side in one process.

One iteration is what the Trainer runs per step, without the Trainer: the module's
forward, its ``replica_losses``, backward and its own (fused Adam) optimiser step, on
``K`` replicas of ``p`` sequences at ``H`` units (``T = 60``, fixed initial states).
Methods (``--methods``):

* ``autograd`` — the eager time loop, differentiated by autograd (the models'
  ``hand_written_bptt = False``);
* ``bptt`` — the hand-written BPTT of models/bptt.py (forward loop without recording,
  backward loop for the state gradients only, one batched product per weight), its time
  loop in Python;
* ``native`` — the same, its leaky time loop in C++ (models/native.py: one batched
  product and one fused pass per step; sRNN, TRNN, MTRNN, PC-RNN-V, PC-RNN-HC-A,
  PC-RNN-GC-HC-A; the others run as ``bptt``);
* ``compile`` / ``compile-cpp`` — ``torch.compile`` of the forward (AOTAutograd compiles
  its backward too) of the eager loop, as ``--compile`` did before, with Inductor's Python or
  C++ wrapper; ``compile-bptt`` — the hand-written loop under ``torch.compile``;
* ``compile-step`` / ``compile-step-cpp`` — the **whole** iteration as one
  ``torch.compile(fullgraph=True)`` graph, as ``--compile`` trains (models/compiled.py):
  the eager loop's forward and loss, its gradient (``torch.func.grad_and_value`` over
  ``torch.func.functional_call``) and Adam's update written out as torch's Adam computes
  it, per-replica learning rates included; Python or C++ wrapper (``--compile`` uses C++).
  Shapes are static, so each (K, p) compiles once; its
  compile time is the first iteration's;
* ``kernels`` (one-product models: sRNN, TRNN, PC-RNN-V, PC-RNN-HC-A, MTRNN) — not a
  training step: the kernels an iteration cannot do without, alone (per step the
  recurrent product and the tanh, the state-gradient product, then one weight-gradient
  product), a floor for what any method can reach with these kernels.

Every method trains its own copy of the same module (same seeds, same start), the
methods alternate in ``--rounds`` rounds of ``--iterations`` iterations after
``--warmup`` ones, and the median time per iteration is quoted — robust to other load on
the machine, which slows every method alike. The first iteration of a compiled method
(its compile time) is reported apart. ``--check`` also compares each method's outputs,
losses and gradients with ``autograd``'s on the first batch.

    python bench/step_cost.py [--models pc_rnn_hc_a ...] [--ks 1 2 16] [--ps 60]
        [--methods autograd bptt] [--threads 1] [--rounds 5] [--iterations 30] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import HPARAMS, LR, machine, rounded  # noqa: E402

from rnn_capacity.data import TrajectoryDataModule  # noqa: E402
from rnn_capacity.models import MODELS, native  # noqa: E402
from rnn_capacity.models.compiled import WholeStep  # noqa: E402

METHODS = (
    "autograd",
    "bptt",
    "native",
    "compile",
    "compile-cpp",
    "compile-bptt",
    "compile-step",
    "compile-step-cpp",
    "kernels",
)
#: Models whose step is one product and a tanh (``kernels`` times those alone).
ONE_PRODUCT = {"srnn": 1, "trnn": 1, "pc_rnn_v": 1, "pc_rnn_hc_a": 1, "mtrnn": 2}


def build(name: str, k: int, p: int, hidden: int):
    seeds = list(range(k))
    data = TrajectoryDataModule(num_sequences=[p] * k, seed=seeds)
    data.setup()
    hp = {"lr": LR, **HPARAMS[name]}
    module = MODELS[name](hidden, [p] * k, seed=seeds, learn_initial_state=False, **hp)
    return module, data.targets


def kernels(module, name: str):
    """The kernels one iteration cannot do without, alone: per step the recurrent product
    and the tanh forward and the state-gradient product backward, then one batched
    weight-gradient product — a floor for a one-product model, not a training step."""
    k, p = module.mask.shape
    if name not in ONE_PRODUCT:
        raise SystemExit(f"--methods kernels: only for {', '.join(ONE_PRODUCT)}")
    h = module.hidden_size * ONE_PRODUCT[name]
    T = module.num_steps
    W = torch.randn(k, h, h) / h
    F = torch.zeros(k, T + 1, p, h)
    G = torch.zeros(k, T, p, h)

    def step(targets):
        fs, gs = F.unbind(1), G.unbind(1)
        for t in range(T):
            torch.tanh(torch.bmm(fs[t], W), out=fs[t + 1])
        for t in range(T - 1, 0, -1):
            torch.bmm(gs[t], W, out=gs[t - 1])
        return torch.bmm(F[:, :T].reshape(k, T * p, h).mT, G.reshape(k, T * p, h))

    return module, step


def whole_step(module, cpp: bool):
    """One iteration — forward, loss, gradient and Adam — as one compiled graph: the
    package's ``--compile`` step (models/compiled.py), driven without a Trainer."""
    module = copy.deepcopy(module)
    module.hand_written_bptt = False  # the eager loop: what the compiler sees whole
    whole = WholeStep(module, cpp_wrapper=cpp)
    optimizer = module.configure_optimizers()

    def step(targets):
        return whole.update(optimizer, targets).sum()

    step.parameters = lambda: dict(module.named_parameters())  # for adam_check
    return module, step


def adam_check(base, method: str, targets, steps: int = 8) -> dict:
    """Max relative difference of every parameter after ``steps`` Adam steps of
    ``method``'s whole-step graph against the eager autograd step."""
    ref, ref_step = prepare(base, "autograd")
    _, step = prepare(base, method)
    for _ in range(steps):
        ref_step(targets)
        step(targets)
    got = step.parameters()
    return {
        "adam_steps": steps,
        "param_max_rel_diff": max(
            float((got[n] - q).abs().max() / q.abs().max().clamp_min(1e-30))
            for n, q in ref.named_parameters()
            if q.requires_grad
        ),
    }


def prepare(module, method: str, name: str = ""):
    """A copy of ``module`` set up for ``method``, its optimiser and its step function."""
    if method == "kernels":
        return kernels(module, name)
    if method.startswith("compile-step"):
        return whole_step(module, cpp=method.endswith("cpp"))
    module = copy.deepcopy(module)
    module.hand_written_bptt = method in ("bptt", "native", "compile-bptt")
    if method == "native" and native.loops() is None:
        raise SystemExit("--methods native: the C++ loop is not available here")
    if method.startswith("compile"):
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        options = {"cpp_wrapper": method == "compile-cpp"}
        module.forward = torch.compile(module.forward, dynamic=False, options=options)
    optimizer = module.configure_optimizers()
    params = [q for group in optimizer.param_groups for q in group["params"]]

    def step(targets):
        native.set_enabled(method == "native")  # the switch is per process: per step here
        for q in params:
            q.grad = None
        loss = module.replica_losses(module(targets), targets).sum()
        loss.backward()
        optimizer.step()
        return loss

    return module, step


def compare(reference, module, targets, module_native: bool = False) -> dict:
    """Max differences of outputs, losses and gradients against the reference module
    (``module_native``: the module's time loop in C++)."""
    out = {}
    results = []
    for m, on in ((reference, False), (module, module_native)):
        native.set_enabled(on)
        m.zero_grad(set_to_none=True)
        pred = m(targets)
        losses = m.replica_losses(pred, targets)
        losses.sum().backward()
        grads = [q.grad for q in m.parameters() if q.requires_grad]
        results.append((pred.detach(), losses.detach(), grads))
        m.zero_grad(set_to_none=True)
    (p0, l0, g0), (p1, l1, g1) = results
    out["output_max_abs_diff"] = float((p0 - p1).abs().max())
    out["loss_max_rel_diff"] = float(((l0 - l1).abs() / l0.abs()).max())
    out["grad_max_rel_diff"] = max(
        float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
        for a, b in zip(g1, g0, strict=True)
    )
    return out


def time_cell(name: str, k: int, p: int, args) -> list[dict]:
    base, targets = build(name, k, p, args.hidden_size)
    runs = {}
    for method in args.methods:
        module, step = prepare(base, method, name)
        t0 = time.perf_counter()
        step(targets)
        first = time.perf_counter() - t0
        runs[method] = {"module": module, "step": step, "first_s": first, "times": []}
    checks = {}
    if args.check:
        ref = prepare(base, "autograd")[0]
        for method in [m for m in runs if m != "kernels"]:
            if method.startswith("compile-step"):
                checks[method] = adam_check(base, method, targets)
            else:
                checks[method] = compare(ref, prepare(base, method)[0], targets, method == "native")
    for run in runs.values():
        for _ in range(args.warmup):
            run["step"](targets)
    for r in range(args.rounds):
        order = args.methods if r % 2 == 0 else args.methods[::-1]
        for method in order:
            step = runs[method]["step"]
            t0 = time.perf_counter()
            for _ in range(args.iterations):
                step(targets)
            runs[method]["times"].append((time.perf_counter() - t0) / args.iterations)
    ref = statistics.median(runs[args.methods[0]]["times"])
    rows = []
    for method, run in runs.items():
        ms = 1e3 * statistics.median(run["times"])
        row = {
            "model": name,
            "K": k,
            "p": p,
            "method": method,
            "ms_per_iteration": ms,
            "spread_ms": [1e3 * min(run["times"]), 1e3 * max(run["times"])],
            "speedup": 1e3 * ref / ms,
            "first_iteration_s": run["first_s"],
        }
        row |= checks.get(method, {})
        rows.append(row)
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["pc_rnn_hc_a"], choices=list(HPARAMS))
    ap.add_argument("--ks", nargs="+", type=int, default=[1, 2, 16])
    ap.add_argument("--ps", nargs="+", type=int, default=[60])
    ap.add_argument("--hidden-size", type=int, default=60)
    ap.add_argument("--methods", nargs="+", default=["autograd", "bptt"], choices=METHODS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="compare with autograd first")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        report = {
            "machine": machine(),
            "load_average": os.getloadavg(),
            "threads": args.threads,
            "rows": [],
        }
        print(f"machine: {report['machine']}; load average {report['load_average']}")
        for name in args.models:
            for k in args.ks:
                for p in args.ps:
                    for row in time_cell(name, k, p, args):
                        report["rows"].append(row)
                        extra = ""
                        if "param_max_rel_diff" in row:
                            extra = (
                                f"  params after {row['adam_steps']} Adam steps "
                                f"{row['param_max_rel_diff']:.1e}"
                            )
                        if "grad_max_rel_diff" in row:
                            extra = (
                                f"  out {row['output_max_abs_diff']:.1e} grad "
                                f"{row['grad_max_rel_diff']:.1e}"
                            )
                        print(
                            f"{name:16s} K={k:2d} p={p:3d} {row['method']:12s} "
                            f"{row['ms_per_iteration']:8.2f} ms/it  x{row['speedup']:.2f}  "
                            f"first {row['first_iteration_s']:.2f} s{extra}",
                            flush=True,
                        )
        report["load_average_after"] = os.getloadavg()
        if args.json:
            print(json.dumps(rounded(report)))
        return report
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
