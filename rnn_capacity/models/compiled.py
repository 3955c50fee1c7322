r"""The whole training step as one compiled graph (``--compile``).

One iteration — the eager time loop's forward, the per-replica losses, their gradient
and Adam's update — is traced by ``torch.compile(fullgraph=True)`` into one graph, so
that Inductor fuses the small per-step kernels of the forward, the backward and the
optimiser. Compiling the forward alone (which AOTAutograd differentiates too) leaves the
optimiser and the graph boundaries in eager mode; the whole step is what pays on a CPU
(bench/step_cost.py, ``--methods compile-step-cpp``).

The gradient is ``torch.func.grad_and_value`` over ``torch.func.functional_call`` of the
module; Adam is written out as ``torch.optim.Adam`` computes it,

.. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
    \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon},

each parameter at its replica's learning rate :math:`\eta` (the module's own Adam
parameter groups). Its moments and step count live in that optimiser's ``state`` under
torch's own names (``exp_avg``, ``exp_avg_sq``, ``step``), so a checkpoint holds them as
an eager run's would. The result equals the eager step to float rounding (the order of
the sums differs): tests/test_compiled.py checks parameters and Adam state after 8 steps,
and the generated outputs, for every BPTT model.

A sweep compiles by default where that was measured to pay (:func:`compile_by_default`;
bench/compile_cost.py). Shapes are static: each (model, K, P, H) compiles once. The
learning rates are an input, not constants, so a new configuration in the same shape
bucket reuses the graph, and Inductor's on-disk cache
(``torch._inductor.config.fx_graph_cache``) makes a new process pay the trace (2–5 s),
not the compile (35–185 s on 2 cores).

Examples:
    >>> import torch
    >>> from rnn_capacity.models import SRNN
    >>> from rnn_capacity.models.compiled import compiles
    >>> compiles(SRNN(8, 3))
    True
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import UsageError
from .base import CapacityModule

#: Adam's settings the compiled update implements (torch's defaults, which the package's
#: optimiser uses); another setting is refused rather than silently ignored.
ADAM_DEFAULTS = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False}


def compiles(module: CapacityModule) -> bool:
    """Whether ``module`` is trained by gradient steps (not closed form, like the ESN), so
    that :func:`compile_training_step` applies to it."""
    trainable = any(q.requires_grad for q in module.parameters())
    return module.automatic_optimization and trainable


#: A sweep compiles by default only for runs at least this long: a cold compile costs
#: 35–185 s per (model, K, P bucket, H) on 2 cores, which 800-iteration runs (the quick
#: preset) do not earn back.
AUTO_MIN_ITERATIONS = 3000


def compile_by_default(
    cls: type[CapacityModule], sequences: int, iterations: int, accelerator: str
) -> bool:
    """Whether a sweep trains an ensemble of ``sequences`` (``K·P``, padded) with the whole
    step compiled when the user chose neither ``--compile`` nor ``--no-compile``: the class
    measured faster compiled at that size (``compile_max_sequences``), the run is at
    least :data:`AUTO_MIN_ITERATIONS` long, it trains on the CPU (where it was measured)
    and a C++ compiler is there for Inductor."""
    limit = cls.compile_max_sequences
    if limit is None or sequences > limit or iterations < AUTO_MIN_ITERATIONS:
        return False
    if accelerator not in ("cpu", "auto"):
        return False
    if accelerator == "auto" and (torch.cuda.is_available() or torch.backends.mps.is_available()):
        return False
    return cpp_compiler() is not None


def cpp_compiler() -> str | None:
    """The path of the C++ compiler Inductor would call, or None if there is none."""
    try:
        # Inductor is heavy to import, and only a run that may compile needs it.
        from torch._inductor.cpp_builder import get_cpp_compiler

        name = get_cpp_compiler()
    except Exception:  # any failure to find one means there is none
        return None
    return shutil.which(name)


def compile_training_step(module: CapacityModule, cpp_wrapper: bool = True) -> None:
    """Train ``module`` with its whole step compiled: from here on a Trainer's
    ``training_step`` is forward, loss, gradient and Adam in one graph (manual
    optimisation, the optimiser's ``step`` driven by a closure that does the update).

    ``cpp_wrapper``: Inductor's C++ wrapper around the kernels (measured faster than the
    Python one on a CPU). A closed-form model (:func:`compiles` false) is left as it is.
    """
    if not compiles(module):
        return
    # One graph per (model, K, P bucket, H): allow more than Dynamo's default 8.
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    module.hand_written_bptt = False  # the eager loop is what the compiler sees whole
    module.automatic_optimization = False
    step = WholeStep(module, cpp_wrapper)
    module.training_step = step.training_step  # the instance's, not the class's


class WholeStep:
    def __init__(self, module: CapacityModule, cpp_wrapper: bool):
        self.module = module
        self._plan: _Plan | None = None
        self.compiled = torch.compile(
            self.iteration, fullgraph=True, dynamic=False, options={"cpp_wrapper": cpp_wrapper}
        )

    def iteration(self, params, frozen, exp_avg, exp_avg_sq, step, lrs, targets):
        """One step, functional: new parameters and moments from the old (all lists in
        the order of ``params``' names)."""
        module = self.module

        def losses_of(ps):
            pred = torch.func.functional_call(module, (ps, frozen), (targets,))
            losses = module.replica_losses(pred, targets)
            return losses.sum(), losses

        grads, (_, losses) = torch.func.grad_and_value(losses_of, has_aux=True)(params)
        (beta1, beta2), eps = ADAM_DEFAULTS["betas"], ADAM_DEFAULTS["eps"]
        t = step + 1
        c1, c2 = 1 - beta1**t, (1 - beta2**t).sqrt()
        new_p, new_m, new_v = [], [], []
        for i, (name, q) in enumerate(params.items()):
            g = grads[name]
            m = exp_avg[i] * beta1 + g * (1 - beta1)
            v = exp_avg_sq[i] * beta2 + g * g * (1 - beta2)
            new_p.append(q - (lrs[i] / c1) * m / (v.sqrt() / c2 + eps))
            new_m.append(m)
            new_v.append(v)
        return losses, new_p, new_m, new_v

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        module = self.module
        optimizer = module.optimizers()
        opt = optimizer.optimizer  # the torch Adam behind Lightning's wrapper
        losses_out = []

        def closure():
            losses_out.append(self.update(opt, batch["targets"]))
            return losses_out[-1].sum()

        # Lightning counts a step when its optimiser steps: the closure does the update
        # and leaves no gradient, so Adam's own step then has nothing to do.
        optimizer.step(closure=closure)
        losses = losses_out[-1]
        module.log_losses(losses)
        return losses.sum()

    def plan(self, opt: torch.optim.Optimizer) -> _Plan:
        """What :meth:`update` passes besides the targets, built once per optimiser state
        (a checkpoint's ``load_state_dict`` replaces ``opt.state``, and so the plan)."""
        key = (id(opt), id(opt.state))
        if self._plan is not None and self._plan.key == key:
            return self._plan
        module = self.module
        names = {id(q): n for n, q in module.named_parameters()}
        groups, tensors = [], []
        for group in opt.param_groups:
            for name, value in ADAM_DEFAULTS.items():
                if group.get(name, value) != value:
                    raise UsageError(f"--compile: Adam's {name} must be {value!r}")
            groups.append((group, len(group["params"])))
            tensors.extend(group["params"])
        for q in tensors:
            state = opt.state[q]
            if not state:  # as torch's Adam initialises it (fused: step a tensor)
                state["step"] = torch.zeros((), dtype=torch.float32, device=q.device)
                state["exp_avg"] = torch.zeros_like(q, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(q, memory_format=torch.preserve_format)
        states = [opt.state[q] for q in tensors]
        trained = {id(q) for q in tensors}
        frozen = {n: q.detach() for n, q in module.named_parameters() if id(q) not in trained}
        self._plan = _Plan(
            key=key,
            groups=groups,
            tensors=[q.detach() for q in tensors],
            params={names[id(q)]: q.detach() for q in tensors},
            frozen=frozen,
            exp_avg=[s["exp_avg"] for s in states],
            exp_avg_sq=[s["exp_avg_sq"] for s in states],
            steps=[s["step"] for s in states],
        )
        return self._plan

    @torch.no_grad()
    def update(self, opt: torch.optim.Optimizer, targets: Tensor) -> Tensor:
        plan = self.plan(opt)
        # Read each step: a learning-rate scheduler may change a group's lr.
        lrs = [g["lr"] for g, n in plan.groups for _ in range(n)]
        lr = torch.tensor(lrs, dtype=torch.float32, device=plan.tensors[0].device)
        # Buffers are read each step: a module may reassign one (its device, its mask).
        frozen = plan.frozen | dict(self.module.named_buffers())
        losses, new_p, new_m, new_v = self.compiled(
            plan.params, frozen, plan.exp_avg, plan.exp_avg_sq, plan.steps[0], lr, targets
        )
        torch._foreach_copy_(plan.tensors, new_p)
        torch._foreach_copy_(plan.exp_avg, new_m)
        torch._foreach_copy_(plan.exp_avg_sq, new_v)
        torch._foreach_add_(plan.steps, 1.0)
        return losses.detach()


@dataclass
class _Plan:
    """The optimiser's tensors in the compiled step's order (see :meth:`WholeStep.plan`)."""

    key: tuple[int, int]
    groups: list[tuple[dict, int]]  # each param group and its number of parameters
    tensors: list[Tensor]  # the parameters, detached (updated in place)
    params: dict[str, Tensor]  # the same by name: the compiled step's input
    frozen: dict[str, Tensor]  # parameters no group trains
    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    steps: list[Tensor]
