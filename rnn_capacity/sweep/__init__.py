"""The search: Bayesian search of one model's capacity at one size, resumable, monitored
in TensorBoard. The README's main command::

    python -m rnn_capacity.sweep --model pc_rnn_hc_a --hidden-size 60

Scikit-optimize's ask/tell ``Optimizer`` (its own GP, expected improvement) proposes
configurations ``x`` — the dimensions of ``configs/<model>.yaml`` in their order — starting
from ``x0``. Each configuration is measured ``tries`` times and scores ``p − 2·mean_count``
(minimised). With ``--batch-size k`` it asks ``k`` points at once (constant liar) and
trains all of them, tries included, as one ensemble. The ``paper`` preset keeps the
original protocol: one configuration at a time; its two tries train as one ensemble of
two replicas, numerically the same measurement as two runs (each replica equals the
single run with its seed; tested) and faster; ``--sequential-tries`` trains each try on
its own, as the original code did. The output directory (default
``results/<model>_<H>/``) holds:

- ``space.json``: what defines the experiment (model, size, dimensions, x0, fixed
  settings, tries, iterations, initial states, threshold, data); a resume must match it;
- ``evaluations.jsonl``: one JSON line per finished configuration (index, ``x``, ``p``,
  hparams, seeds, counts, mean_count, objective, final_losses, seconds, ensemble),
  fsync'ed as soon as its batch finishes;
- ``surrogate.pk``: the last fitted GP (skopt ``GaussianProcessRegressor`` on normalised
  coordinates, the form of the original study's ``<MODEL>_model_<H>.pk``);
- ``summary.json``, ``convergence.png`` and ``objective.png`` (partial dependence);
- ``best.ckpt`` (and ``best.json``): the trained model of the best configuration so far,
  for ``resolve_model(model)[1].load_from_checkpoint`` (``MODELS[model]`` for a built-in);
- ``.lock`` (held while a sweep runs: a second sweep on the directory is refused) and
  ``.sweep-id`` (the id that marks this sweep's TensorBoard group as its own).

The JSON files are the records of :mod:`rnn_capacity.records` (``SweepSpace``,
``Configuration``, ``SweepSummary``). ``--executor process --workers N`` trains N batches
at once in worker processes, ``--executor ray`` as tasks on a Ray cluster.

Every measurement is a TensorBoard run ``<log-dir>/<out name>/call<i>_try<t>``; the search
itself logs to ``<log-dir>/<out name>/sweep``. Bad input prints one line ``error: ...``
and exits 2; Ctrl-C (SIGTERM) exits 130 (143) and says how to resume; ``kill -9`` loses at
most the batches in flight.

The package, from the bottom up (each module imports only those above it in this list):

- :mod:`~rnn_capacity.sweep.settings`: ``SweepSettings`` and :func:`resolve_settings`,
  the presets (``rnn_capacity.protocol``) under explicit values, checked;
- :mod:`~rnn_capacity.sweep.batch`: training one batch, and making its records;
- :mod:`~rnn_capacity.sweep.journal`: the output directory (space, journal, summary,
  lock, TensorBoard group);
- :mod:`~rnn_capacity.sweep.executors`: where batches train (this process, worker
  processes, Ray);
- :mod:`~rnn_capacity.sweep.loop`: the ask/tell loop, persistence, plots, TensorBoard;
- :mod:`~rnn_capacity.sweep.cli`: the command line (``python -m rnn_capacity.sweep``).
"""

__all__ = ["main"]


def __getattr__(name: str):
    """``rnn_capacity.sweep.main``, the command line, for the installed command and old
    callers; imported on use, so that importing a part of the package (its settings,
    say) does not import the whole search."""
    if name == "main":
        from .cli import main  # lazy: see the docstring

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
