"""The hand-written BPTT (models/bptt.py) and what keeps the training step device-ready.

Equivalence with autograd's loop, for all thirteen BPTT models and every setting value,
is the contract rule ``check_hand_written_bptt`` (tests/test_contract.py runs it for every
built-in model); here: when the hand-written loop is used, and that the step needs no
host round trip (no data-dependent Python, no tensor built from host data per step).
"""

from __future__ import annotations

import types

import pytest
import torch

from rnn_capacity.data import TrajectoryDataModule
from rnn_capacity.models import BUILTIN_MODELS, GRU, PCRNNHCA, SRNN, TRNN
from rnn_capacity.models.base import bptt_applies

BPTT = [name for name in BUILTIN_MODELS if name != "esn"]


def test_every_bptt_model_has_its_hand_written_loop_on():
    for name in BPTT:
        cls = BUILTIN_MODELS[name]
        assert cls.hand_written_bptt and bptt_applies(cls), name


class NewStep(TRNN):
    def step(self, w, h, f):
        return super().step(w, h, f) * 0.5


class NewReadOut(SRNN):
    def read_out(self, w, f):
        return super().read_out(w, 2 * f)


class NewPrepare(TRNN):  # the loop reads w.a from prepare: still the hand-written loop
    def prepare(self, w):
        w = super().prepare(w)
        w.a = w.a * 0.5
        return w


class OwnLoop(NewStep):  # a subclass that writes its own loop for its own step
    def bptt_loop(self, w, h):
        from rnn_capacity.models.bptt import leaky_loop

        return leaky_loop(h, w.a, self.num_steps, 0.5 * w.W_r.mT, 0.5 * w.b_r)

    def step(self, w, h, f):  # the same step again, defined here: the loop owns it
        return torch.lerp(h, 0.5 * torch.baddbmm(w.b_r, f, w.W_r.mT), w.a)


def test_a_subclass_that_changes_the_recurrence_falls_back_to_autograd():
    assert not bptt_applies(NewStep) and not bptt_applies(NewReadOut)
    assert bptt_applies(NewPrepare) and bptt_applies(OwnLoop)
    for cls in (NewStep, NewReadOut, NewPrepare, OwnLoop):
        model = cls(6, [2, 3], seed=[0, 1])
        eager = cls(6, [2, 3], seed=[0, 1])
        eager.hand_written_bptt = False
        torch.testing.assert_close(model.generate(), eager.generate(), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:.*self.log")
@pytest.mark.parametrize("name", BPTT)
def test_the_step_runs_on_the_meta_device(name):
    """Forward, loss and backward on tensors without data: nothing in the step reads a
    value back to the host or needs a CPU-only kernel, as on a GPU."""
    model = BUILTIN_MODELS[name](6, [2, 3], seed=[0, 1]).to("meta")
    targets = torch.zeros(model.num_steps, 2, 3, 2, device="meta")
    loss = model.training_step({"targets": targets, "mask": model.mask}, 0)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.device.type == "meta" for g in grads)


def test_the_step_builds_no_tensor_from_host_data(monkeypatch):
    """No ``torch.tensor(...)`` (a host-to-device copy on a GPU) in forward, loss and
    backward: the replicas' p are a buffer."""
    model = PCRNNHCA(6, [2, 3], seed=[0, 1])
    data = TrajectoryDataModule([2, 3], seed=[0, 1])
    data.setup()

    def refuse(*args, **kwargs):
        raise AssertionError("torch.tensor called inside the training step")

    monkeypatch.setattr(torch, "tensor", refuse)
    model.replica_losses(model(data.targets), data.targets).sum().backward()


def test_the_batch_is_served_on_the_trainers_device():
    data = TrajectoryDataModule([2, 3], seed=[0, 1])
    data.setup()
    strategy = types.SimpleNamespace(root_device=torch.device("meta"))
    data.trainer = types.SimpleNamespace(strategy=strategy)
    batch = next(iter(data.train_dataloader()))
    assert batch["targets"].device.type == "meta" and batch["mask"].device.type == "meta"


def test_teacher_forced_gru_feeds_the_targets_in_the_hand_written_loop():
    model = GRU(6, [2, 3], seed=[0, 1], teacher_forcing="always")
    eager = GRU(6, [2, 3], seed=[0, 1], teacher_forcing="always")
    eager.hand_written_bptt = False
    targets = torch.randn(model.num_steps, 2, 3, 2)
    model.eval(), eager.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(targets), eager(targets), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(model(targets), model(None))


def test_above_its_size_limit_a_model_trains_through_autograd():
    small = GRU(6, [250, 250], seed=[0, 1])
    large = GRU(6, [250, 250, 1], seed=[0, 1, 2])  # K·P = 750 > 500
    assert GRU.bptt_max_sequences == 500
    assert small.uses_hand_written_bptt() and not large.uses_hand_written_bptt()
    assert PCRNNHCA(6, [250] * 16, seed=list(range(16))).uses_hand_written_bptt()  # no limit
