"""Evaluating models and folders of samples with ``sigctl.metrics``: records, reports.

- ``runs``: sample a trained run through the public request path and score it (``write_eval`` is
  what training calls last, so every model carries ``eval.json``)
- ``folders``: score any folder of PNG samples against a real image
- ``record``: the ``eval.json`` record, read back for ``sigctl info`` and the served config
- ``html_report``, ``charts``: the one-page report that opens from disk
- ``limits``: bounds on counts and sizes, checked before any work
"""
