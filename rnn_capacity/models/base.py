"""The base LightningModule shared by every model.

A model here *generates*: from one initial state per sequence it runs T steps on its
own (no input), and the loss is the MSE between the generated and the target
trajectories. The base class owns everything that is not model-specific: the initial
states, the time loop, the loss, the optimiser and :meth:`generate`. A subclass writes
only its weights (:meth:`init_weights`), its state update (:meth:`step`) and, where they
differ from the defaults, what it reads of its state (:meth:`features`) and its read-out.

Every model reads its state through a nonlinearity φ (``tanh``, or the identity for
LSTM/GRU) both in its update and in its read-out: the loop computes ``φ(state)`` once per
step and hands it to both (``tanh`` is the costliest op of a step on a CPU).

Replicas
--------
Training one small RNN is dominated by Python and dispatch overhead, so a module can
hold ``K`` independent *replicas*: separate weights, initial states, numbers of
sequences and hyperparameters, trained together with batched matrix products. A plain
single model is simply ``K = 1``; the equations are written once, on tensors with a
leading replica axis:

* ``h``: ``(K, P, H)`` — replica, sequence, unit (``P`` = the largest ``p_k``);
* ``W``: ``(K, H, H)``, biases ``(K, 1, H)``, per-replica hyperparameters ``(K, 1, 1)``.

Replica ``k`` with seed ``s`` draws its initial states and weights from its own
generator seeded with ``s``, so it starts exactly where a single model built with
``seed=s`` starts; each replica has its own leaf tensors, so Adam's parameter groups
give it its own learning rate. A replica with ``p_k < P`` is zero-padded; the padded
sequences are masked out of its loss, so they receive no gradient and stay zero.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import UsageError
from ..files import write_atomic
from ..layout import padding_mask
from ..protocol import STEPS
from .options import (
    LR,
    MAX_HIDDEN,
    MAX_SEED,
    Option,
    check_count,
    check_num_sequences,
    declared_options,
    validate_options,
)

OUTPUT_SIZE = 2
NUM_STEPS = STEPS  # T, the protocol's (rnn_capacity.protocol)


def per_replica(value, k: int, name: str) -> list:
    """Broadcast a scalar to ``k`` replicas, or check that a sequence has length ``k``."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value] * k
    if len(value) != k:
        raise UsageError(f"{name} has {len(value)} values for {k} replicas (one per seed)")
    return list(value)


def randn(g: torch.Generator, *shape: int) -> Tensor:
    """``N(0, 1)`` draws of ``shape`` from the replica's generator ``g``: what
    :meth:`CapacityModule.init_weights` uses, so that a replica with seed ``s`` draws
    exactly what a single model with seed ``s`` draws."""
    return torch.randn(*shape, generator=g)


def default_read_out(g: torch.Generator, hidden: int) -> dict[str, Tensor]:
    """``W_o ~ N(0,1)/H`` (stored as O×H) and ``b_o ~ N(0,1)/10`` (stored 1×O)."""
    return {"W_o": randn(g, OUTPUT_SIZE, hidden) / hidden, "b_o": randn(g, 1, OUTPUT_SIZE) / 10}


class Weights:
    """The tensors one forward pass uses, as attributes (``w.W_r``, ``w.h0``, ``w.tau``):
    what :meth:`CapacityModule.weights` returns and :meth:`~CapacityModule.prepare` adds
    to. A plain class rather than :class:`types.SimpleNamespace`, which ``torch.compile``
    cannot build inside a full graph (``--compile`` compiles the whole training step)."""

    def __init__(self, **tensors):
        for name, value in tensors.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"Weights({', '.join(vars(self))})"


class CapacityModule(pl.LightningModule):
    """Base class: ``K`` replicas of one recurrent model generating ``p_k`` sequences each.

    Args:
        hidden_size: ``H``, the number of recurrent units.
        num_sequences: ``p``, sequences (and initial states) per replica; an int or one
            value per replica.
        seed: seeds the initial states and weights; one per replica. The number of
            replicas ``K`` is ``len(seed)`` (an int seed means ``K = 1``).
        lr: Adam learning rate, an int or one value per replica.
        learn_initial_state: ``True`` (default) trains the initial states with the
            weights; ``False`` keeps them at their random draw, as the original
            protocol did.
        num_steps: ``T``, the length of the generated trajectories.
        pad_to: pad the sequence axis to at least this size (shape bucketing, so that a
            compiled model does not recompile for every new ``p``).
        **hparams: the model's own hyperparameters (``tau``, ...), scalars or one value
            per replica; each becomes a ``(K, 1, 1)`` buffer of the same name.

    Subclasses implement :meth:`init_state`, :meth:`init_weights` and :meth:`step`, and
    may override :meth:`start`, :meth:`prepare`, :meth:`features` and :meth:`read_out`.
    Class attributes: ``frozen`` (names of per-replica tensors that are never trained
    by the optimiser), ``fitted`` (frozen ones a model fits otherwise) and
    ``per_sequence`` (name → axis of length ``p`` for weights that depend on ``p``,
    e.g. the hidden-cause matrix).

    Examples:
        A new model is its weights and its update; the base class does the rest:

        >>> import torch
        >>> from rnn_capacity.models import CapacityModule
        >>> from rnn_capacity.models.base import default_read_out
        >>> class Plain(CapacityModule):  # h_t = W tanh(h_{t-1}), x̂_t = W_o tanh(h_t) + b_o
        ...     def init_weights(self, g, p, **hp):
        ...         H = self.hidden_size
        ...         return {"W": torch.randn(H, H, generator=g) / H} | default_read_out(g, H)
        ...     def step(self, w, h, f):
        ...         return torch.bmm(f, w.W.mT)
        >>> model = Plain(hidden_size=8, num_sequences=3, lr=0.01)
        >>> model.generate().shape  # (T, p, 2)
        torch.Size([60, 3, 2])
        >>> ensemble = Plain(hidden_size=8, num_sequences=[3, 5], seed=[0, 1])
        >>> ensemble.num_replicas, ensemble.generate().shape  # (T, K, P, 2)
        (2, torch.Size([60, 2, 5, 2]))
        >>> # Replica 0 generates what the single model with seed 0 does (to float rounding):
        >>> torch.allclose(ensemble.generate()[:, 0, :3], model.generate(), atol=1e-6)
        True
    """

    #: The short name figures and tables show (``"PC-RNN-HC-A"``). Read from the class's
    #: own ``__dict__`` (:func:`~rnn_capacity.models.model_label`): a subclass without one
    #: shows its class name, not its parent's name.
    display_name: str | None = None
    frozen: tuple[str, ...] = ()
    #: Frozen tensors that training sets all the same, outside the optimiser (the ESN's
    #: closed-form read-out): they count as trainable parameters.
    fitted: tuple[str, ...] = ()
    per_sequence: dict[str, int] = {}
    #: Run the time loop through the class's hand-written BPTT (:meth:`bptt_loop`,
    #: models/bptt.py) instead of autograd's record-and-replay; set per class where it
    #: pays (bench/step_cost.py), and per instance to compare (``False``: eager autograd).
    hand_written_bptt: bool = False
    #: The largest ensemble, in sequences ``K·P``, that the hand-written BPTT trains (None:
    #: any): above it autograd's loop runs, where the batched loop measured slower
    #: (bench/step_cost.py; its whole-run buffers stop fitting in the caches).
    bptt_max_sequences: int | None = None
    #: The largest ensemble, in sequences ``K·P`` (P padded to the compile bucket), that a
    #: sweep trains with the whole step compiled when ``--compile`` is not given (None:
    #: never): where the compiled step measured faster than the default, its compile
    #: included (bench/compile_cost.py); see :func:`.compiled.compile_by_default`.
    compile_max_sequences: int | None = None
    #: Whether ``--prune``'s rule (protocol.PRUNE) was checked on this
    #: model's own full runs and stopped none that would have counted (bench/prune_rule.py
    #: --shipped); a sweep refuses ``--prune`` elsewhere, a user's model included.
    prune_validated: bool = False
    #: This class's own options (hyperparameters and settings); see models/options.py.
    OPTIONS: tuple[Option, ...] = (LR,)
    #: Constructor arguments that are not model options.
    STRUCTURE = ("hidden_size", "num_sequences", "seed", "learn_initial_state", "num_steps")

    def __init__(
        self,
        hidden_size: int,
        num_sequences: int | Sequence[int],
        seed: int | Sequence[int] = 0,
        lr: float | Sequence[float] = 0.01,
        learn_initial_state: bool = True,
        num_steps: int = NUM_STEPS,
        pad_to: int | None = None,
        **hparams,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.check_arguments()
        seeds = per_replica(seed, 1, "seed") if isinstance(seed, int) else list(seed)
        k = len(seeds)
        self.seeds = [int(s) for s in seeds]
        self.hidden_size = hidden_size
        self.num_steps = num_steps
        self.num_sequences = [int(p) for p in per_replica(num_sequences, k, "num_sequences")]
        self.lrs = [float(v) for v in per_replica(lr, k, "lr")]
        self.learn_initial_state = learn_initial_state
        self.replica_hparams = tuple(hparams)
        values = {name: per_replica(value, k, name) for name, value in hparams.items()}
        for name, vs in values.items():
            self.register_buffer(name, torch.tensor(vs, dtype=torch.float32).view(k, 1, 1))

        width = max(max(self.num_sequences), pad_to or 0)
        self.replicas = nn.ModuleList()
        for i, (s, p) in enumerate(zip(seeds, self.num_sequences, strict=True)):
            g = torch.Generator().manual_seed(int(s))
            state = {n: pad(t, 0, width) for n, t in self.init_state(g, p).items()}
            weights = self.init_weights(g, p, **{n: vs[i] for n, vs in values.items()})
            for name, axis in self.per_sequence.items():
                weights[name] = pad(weights[name], axis, width)
            rep = nn.ParameterDict()
            for n, t in state.items():
                rep[n] = nn.Parameter(t, requires_grad=learn_initial_state)
            for n, t in weights.items():
                rep[n] = nn.Parameter(t, requires_grad=n not in self.frozen)
            self.replicas.append(rep)
        # Which sequences of the padded batch are real: (K, P).
        self.register_buffer("mask", padding_mask(self.num_sequences, width), persistent=False)
        # p_k of each replica, on the module's device: no host-to-device copy per step.
        counts = torch.tensor(self.num_sequences, dtype=torch.float32)
        self.register_buffer("sequence_counts", counts, persistent=False)
        self.last_losses: Tensor | None = None  # (K,) per-replica loss of the last step

    def check_arguments(self) -> None:
        """Refuse a bad constructor argument with one line naming it (a UsageError, which
        is a ValueError): unknown names, values out of range, wrong types."""
        hp = dict(self.hparams)
        name = type(self).__name__
        check_count(hp["hidden_size"], "hidden_size", 1, MAX_HIDDEN)
        seeds = hp["seed"] if isinstance(hp["seed"], list | tuple) else [hp["seed"]]
        if not seeds:
            raise UsageError("seed: give at least one seed (one per replica)")
        for s in seeds:
            check_count(s, "seed", 0, MAX_SEED)
        ps = hp["num_sequences"]
        for p in ps if isinstance(ps, list | tuple) else [ps]:
            check_num_sequences(p)
        check_count(hp["num_steps"], "num_steps", 1, 100_000)
        if not isinstance(hp["learn_initial_state"], bool):
            raise UsageError(f"learn_initial_state must be true or false for {name}")
        if hp.get("pad_to") is not None:
            check_count(hp["pad_to"], "pad_to", 1, 100_000)
        skip = (*self.STRUCTURE, "pad_to", *getattr(self, "ignored_options", ()))
        options = {k: v for k, v in hp.items() if k not in skip}
        validate_options(type(self), options, name)

    @classmethod
    def options(cls) -> dict[str, Option]:
        """This model's options by name (its own first): the one declaration that the
        constructor, ``measure_capacity``, ``--set`` and the search spaces check against."""
        return declared_options(cls)

    def replica(self, k: int) -> CapacityModule:
        """Replica ``k`` as a single model of the same class: its seed, ``p``, learning
        rate and hyperparameters, and its trained tensors without the padding — what a
        single run with that seed would have become (``generate()`` returns the same)."""
        if not 0 <= k < self.num_replicas:
            raise IndexError(f"replica {k} of {self.num_replicas}")
        hp = dict(self.hparams)
        hp |= {"seed": int(self.seeds[k]), "num_sequences": self.num_sequences[k]}
        hp |= {"lr": self.lrs[k], "pad_to": None}
        for name in self.replica_hparams:
            hp[name] = float(getattr(self, name)[k].item())
        single = type(self)(**hp)
        p = self.num_sequences[k]
        states = set(self.init_state(torch.Generator().manual_seed(0), 1))
        with torch.no_grad():
            for name, t in self.replicas[k].items():
                if name in states:
                    t = t[:p]
                elif name in self.per_sequence:
                    t = t.narrow(self.per_sequence[name], 0, p)
                single.replicas[0][name].copy_(t)
        return single.to(self.device)

    def parameter_counts(self, k: int = 0) -> dict[str, int]:
        """Trainable parameters of replica ``k``, without its padding.

        ``trainable``: every number the training sets — the tensors Adam updates, plus the
        ones a model fits otherwise (``fitted``: the ESN's closed-form read-out);
        ``per_sequence``: the part of it that grows with ``p`` (learned initial states,
        the hidden causes of the PC-RNN-HC models); ``shared``: the rest, which does not.
        """
        if not 0 <= k < self.num_replicas:
            raise IndexError(f"replica {k} of {self.num_replicas}")
        p = self.num_sequences[k]
        states = set(self.init_state(torch.Generator().manual_seed(0), 1))
        trainable = per_sequence = 0
        for name, t in self.replicas[k].items():
            if not (t.requires_grad or name in self.fitted):
                continue
            if name in states:  # (P, ...): one initial state per sequence
                n = p * t[0].numel()
                per_sequence += n
            elif name in self.per_sequence:  # one slice per sequence along its axis
                n = p * t.numel() // t.shape[self.per_sequence[name]]
                per_sequence += n
            else:
                n = t.numel()
            trainable += n
        return {"trainable": trainable, "per_sequence": per_sequence,
                "shared": trainable - per_sequence}  # fmt: skip

    def save_checkpoint(self, path) -> None:
        """Write a checkpoint that ``type(self).load_from_checkpoint(path)`` reloads (the
        Lightning format: state dict and hyperparameters), atomically. A Trainer's own
        ``trainer.save_checkpoint`` writes the same kind of file."""
        checkpoint = {
            "state_dict": self.state_dict(),
            self.CHECKPOINT_HYPER_PARAMS_KEY: dict(self.hparams),
            "pytorch-lightning_version": pl.__version__,
            "epoch": 0,
            "global_step": 0,
        }
        buf = io.BytesIO()  # serialised in memory: a full disk is then a plain OSError
        torch.save(checkpoint, buf)
        write_atomic(path, buf.getvalue())

    # -- what a model provides ------------------------------------------------------
    def init_state(self, g: torch.Generator, p: int) -> dict[str, Tensor]:
        """One replica's initial states, each of shape ``(p, ...)``; default ``h0 ~ N(0,1)``."""
        return {"h0": randn(g, p, self.hidden_size)}

    def init_weights(self, g: torch.Generator, p: int, **hp) -> dict[str, Tensor]:
        """One replica's weights (without the replica axis), drawn from ``g``; ``hp`` are
        this replica's hyperparameters (the reservoir of the ESN depends on them)."""
        raise NotImplementedError

    def start(self, w: Weights):
        """The state the time loop starts from (default: ``h0``, shape (K, P, H))."""
        return w.h0

    def prepare(self, w: Weights) -> Weights:
        """Per-forward precomputation shared by all time steps (default: nothing)."""
        return w

    def step(self, w: Weights, state, f: Tensor):
        """One update ``state_{t-1} -> state_t``; ``f = features(state_{t-1})``."""
        raise NotImplementedError

    def features(self, state) -> Tensor:
        """φ(state) as the update and the read-out see it (default ``tanh(h)``)."""
        return torch.tanh(state)

    def uses_hand_written_bptt(self) -> bool:
        """Whether :meth:`forward` runs :meth:`bptt_loop`: ``hand_written_bptt`` is set, the
        class keeps the recurrence its loop was written for (:func:`bptt_applies`) and the
        ensemble has at most ``bptt_max_sequences`` sequences."""
        if not (self.hand_written_bptt and bptt_applies(type(self))):
            return False
        limit = self.bptt_max_sequences
        return limit is None or self.mask.numel() <= limit

    def bptt_loop(self, w: Weights, state) -> Tensor:
        """The features of steps 1..T, (K, T, P, ·), from the hand-written BPTT of this
        class's recurrence (models/bptt.py): what the eager loop of :meth:`step` and
        :meth:`features` computes, with its own backward. Used when
        ``hand_written_bptt`` is set and the class overrides none of the methods the
        recurrence is made of (:func:`bptt_applies`)."""
        raise NotImplementedError

    def read_out(self, w: Weights, f: Tensor) -> Tensor:
        r""":math:`\hat x_t = W_o\, \varphi(h_t) + b_o` on features (K, N, H) -> (K, N, 2)."""
        return torch.baddbmm(w.b_o, f, w.W_o.mT)

    # -- the shared machinery -------------------------------------------------------
    @property
    def num_replicas(self) -> int:
        return len(self.replicas)

    def weights(self) -> Weights:
        """All per-replica tensors stacked on a leading replica axis, plus the hparams."""
        w = {}
        for name in self.replicas[0]:
            ts = [rep[name] for rep in self.replicas]
            w[name] = ts[0].unsqueeze(0) if len(ts) == 1 else torch.stack(ts)
        for name in self.replica_hparams:
            w[name] = getattr(self, name)
        return Weights(**w)

    def forward(self, targets: Tensor | None = None) -> Tensor:
        """Closed-loop generation: predictions of shape (T, K, P, 2).

        ``targets`` (T, K, P, 2) are ignored by autonomous models; models with an input
        use them for teacher forcing during training only.
        """
        w = self.prepare(self.weights())
        state = self.start(w)
        if self.uses_hand_written_bptt():
            return self.read_out_steps(w, self.bptt_loop(w, state))
        f = self.features(state)
        fs = []
        for _ in range(self.num_steps):  # update, then read out
            state = self.step(w, state, f)
            f = self.features(state)
            fs.append(f)
        return self.read_out_steps(w, fs)

    def read_out_steps(self, w: Weights, fs: list[Tensor] | Tensor) -> Tensor:
        """Read out the features of T steps, each (K, P, ·) (or all of them, (K, T, P, ·)),
        at once -> (T, K, P, 2)."""
        # One batched product for all steps instead of T small ones.
        f = fs if isinstance(fs, Tensor) else torch.stack(fs, dim=1)  # (K, T, P, ·)
        k, t, p, _ = f.shape
        x = self.read_out(w, f.reshape(k, t * p, -1))  # (K, T*P, 2)
        return x.view(k, t, p, OUTPUT_SIZE).transpose(0, 1)  # (T, K, P, 2)

    @torch.no_grad()
    def generate(self, targets: Tensor | None = None) -> Tensor:
        """Generated trajectories: (T, p, 2) for a single model, (T, K, P, 2) for replicas.

        Runs in eval mode. ``targets`` (T, K, P, 2) matter only to a model counted
        teacher-forced (LSTM/GRU with ``teacher_forcing="always"``): without them every
        model generates freely.
        """
        was_training = self.training
        self.eval()
        try:
            x = self(targets)
        finally:
            self.train(was_training)
        return x[:, 0, : self.num_sequences[0]] if self.num_replicas == 1 else x

    def replica_losses(self, pred: Tensor, targets: Tensor) -> Tensor:
        """MSE of each replica over its own sequences only: (K,)."""
        sq = (pred - targets).square() * self.mask[None, :, :, None]
        counts = self.sequence_counts.to(sq.dtype)
        return sq.sum(dim=(0, 2, 3)) / (counts * (pred.shape[0] * OUTPUT_SIZE))

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        losses = self.replica_losses(self(batch["targets"]), batch["targets"])
        self.log_losses(losses.detach())
        # Replicas are independent: the sum's gradient w.r.t. replica k is that of its loss.
        return losses.sum()

    def log_losses(self, losses: Tensor) -> None:
        """``train/loss``: through ``self.log`` for a single model; for an ensemble whose
        Trainer has one logger per replica (``measure_ensemble``), replica ``k``'s own loss
        to ``trainer.loggers[k]``, so that every replica is its own TensorBoard run. Under a
        Trainer, only every ``log_every_n_steps`` steps and at the last one (what its
        loggers write); :attr:`last_losses` is set at every step."""
        self.last_losses = losses
        loggers = self.trainer.loggers if self._trainer is not None else []
        if self._trainer is not None:
            # Only on the steps a logger writes (and the last): ``self.log`` costs about
            # as much as a small model's step, and the others' values are never read.
            step = self.trainer.global_step + 1  # the step this loss belongs to
            last = step == self.trainer.max_steps or self.trainer.should_stop
            if step % self.trainer.log_every_n_steps and not last:
                return
        if self.num_replicas == 1 or len(loggers) != self.num_replicas:
            self.log("train/loss", losses.mean(), prog_bar=True)
            return
        self.log("train/loss_mean", losses.mean(), prog_bar=True, logger=False)
        for logger, loss in zip(loggers, losses.tolist(), strict=True):
            logger.log_metrics({"train/loss": loss}, step=step)

    def configure_optimizers(self):
        # One Adam parameter group per learning rate: Adam is invariant to gradient
        # scaling, so per-replica learning rates need their own groups.
        groups: dict[float, list[Tensor]] = {}
        for lr, rep in zip(self.lrs, self.replicas, strict=True):
            groups.setdefault(lr, []).extend(t for t in rep.values() if t.requires_grad)
        # fused: one kernel for all tensors instead of ~10 ops per tensor (K × 6 of them).
        return torch.optim.Adam([{"params": ps, "lr": lr} for lr, ps in groups.items()], fused=True)


#: The methods a recurrence is made of: a class's :meth:`~CapacityModule.bptt_loop` holds
#: for a subclass only if the subclass overrides none of them.
RECURRENCE = ("start", "step", "features", "prior", "drive", "read_out")


@functools.cache
def bptt_applies(cls: type) -> bool:
    """Whether ``cls``'s :meth:`~CapacityModule.bptt_loop` computes its recurrence: the
    class that defines it is (a subclass of) the one that defines each of
    :data:`RECURRENCE`. A subclass that changes the step falls back to autograd."""
    owner = next((c for c in cls.__mro__ if "bptt_loop" in vars(c)), CapacityModule)
    if owner is CapacityModule:
        return False
    for name in RECURRENCE:
        defined = next((c for c in cls.__mro__ if name in vars(c)), None)
        if defined is not None and not issubclass(owner, defined):
            return False
    return True


def pad(t: Tensor, axis: int, size: int) -> Tensor:
    """Zero-pad ``t`` at the end of ``axis`` to ``size``."""
    # F.pad lists (before, after) pairs from the last axis backwards.
    return F.pad(t, (0, 0) * (t.dim() - 1 - axis) + (0, size - t.shape[axis]))


def leaky(h: Tensor, drive: Tensor, a: Tensor) -> Tensor:
    r"""Leaky integration :math:`(1 - a)\, h + a\, \mathrm{drive}` in one op."""
    return torch.lerp(h, drive, a)
