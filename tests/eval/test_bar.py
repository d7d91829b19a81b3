"""The bar: a tiny model trained for a few CPU minutes on synthetic recordings beats the
copy-last and shuffled-action baselines at horizon 1 on held-out clips (with a margin)."""

from __future__ import annotations

import pytest

from craft_jepa.eval.runner import EvalConfig, evaluate_encoded

from .runs import trained_and_encoded


@pytest.mark.slow
@pytest.mark.timeout(1200)  # the first bar test trains the session's run (2-10 min on 2 shared cores)
def test_trained_tiny_model_beats_copy_last_and_shuffled_actions(tmp_path_factory):
    run, clips = trained_and_encoded(tmp_path_factory.getbasetemp())
    report = evaluate_encoded(run, clips, EvalConfig(clips=len(clips), progress=False))
    tf = report["horizons"]["tf"]
    model = tf["model"]["l1"][0]
    assert model < 0.98 * tf["copy_last"]["l1"][0], tf
    assert model < 0.95 * tf["shuffled_actions"]["l1"][0], tf
