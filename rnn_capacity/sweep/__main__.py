"""``python -m rnn_capacity.sweep``: the sweep's command line (:mod:`rnn_capacity.sweep.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
