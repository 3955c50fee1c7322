"""The rules on what leaves an ensemble (``check_replica_export``,
``check_checkpoint_round_trip``): ``replica(k)`` and checkpoints reload to the same
model."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch

from ..machinery import _close, _equal_models, _expect, _targets, _train, _trainer_fit
from ..registry import _rule
from ..spec import EXACT, NUM_SEQUENCES, SEEDS, _Spec


@_rule()
def check_replica_export(spec: _Spec):
    """``replica(k)`` is the single model replica k became: same seed, p, generate()."""
    ensemble = spec.ensemble(learn_initial_state=True)
    targets = _targets(ensemble)
    _train(ensemble, targets, 2)
    together = ensemble.generate()
    for k, p in enumerate(NUM_SEQUENCES):
        single = ensemble.replica(k)
        _expect(type(single) is spec.cls, f"replica({k}) is a {type(single).__name__}")
        _expect(single.num_replicas == 1, f"replica({k}) has {single.num_replicas} replicas")
        _expect(single.num_sequences == [p], f"replica({k}).num_sequences {single.num_sequences}")
        _expect(single.seeds == [SEEDS[k]], f"replica({k}).seeds {single.seeds}")
        _expect(single.lrs == [ensemble.lrs[k]], f"replica({k}).lrs {single.lrs}")
        for name in spec.per_replica:
            value = single.hparams[name]
            _expect(
                math.isclose(value, spec.values(name, k), rel_tol=1e-6),
                f"replica({k}).hparams[{name!r}] is {value!r}, not {spec.values(name, k)!r}",
            )
        fresh = spec.single(k)
        for name, t in fresh.replicas[0].items():
            shape = tuple(single.replicas[0][name].shape)
            _expect(shape == tuple(t.shape), f"replica({k})'s {name} has shape {shape}")
        _close(single.generate(), together[:, k, :p], f"replica({k}).generate()", {})
    try:
        ensemble.replica(len(SEEDS))
    except IndexError:
        pass
    else:
        raise AssertionError(f"replica({len(SEEDS)}) of {len(SEEDS)} replicas did not raise")


@_rule()
def check_checkpoint_round_trip(spec: _Spec):
    """``load_from_checkpoint`` gives bit for bit the same ``generate()``."""
    cls, spec = spec.cls, spec.shortened()
    model = spec.ensemble(learn_initial_state=True, **spec.other_settings())
    targets = _targets(model)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _trainer_fit(model, targets, 2)
        paths = {"trainer.save_checkpoint": Path(tmp, "trainer.ckpt")}
        trainer.save_checkpoint(paths["trainer.save_checkpoint"])
        paths["module.save_checkpoint"] = Path(tmp, "module.ckpt")
        model.save_checkpoint(paths["module.save_checkpoint"])
        single = model.replica(0)
        paths["replica(0).save_checkpoint"] = Path(tmp, "single.ckpt")
        single.save_checkpoint(paths["replica(0).save_checkpoint"])
        for how, path in paths.items():
            source = single if how.startswith("replica") else model
            reloaded = cls.load_from_checkpoint(path, map_location="cpu")
            _expect(type(reloaded) is cls, f"{how}: reloaded a {type(reloaded).__name__}")
            _expect(
                dict(reloaded.hparams) == dict(source.hparams),
                f"{how}: hparams {dict(reloaded.hparams)} vs {dict(source.hparams)}",
            )
            _equal_models(reloaded, source, how)
            _close(reloaded.generate(), source.generate(), f"{how}: generate()", EXACT)
    other = spec.cls(**(dict(model.hparams) | {"seed": [s + 100 for s in SEEDS]}))
    _expect(not torch.equal(other.generate(), model.generate()), "other seeds generate the same")
    other.load_state_dict(model.state_dict())
    _close(other.generate(), model.generate(), "load_state_dict into other seeds", EXACT)
