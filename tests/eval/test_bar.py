"""The bar (issue 12): the demo's toy world model, trained for a few CPU minutes on synthetic
recordings, beats copy-last and uses its actions on held-out clips, by stated margins."""

from __future__ import annotations

import pytest

from craft_jepa.eval.heldout import EvalConfig, evaluate_encoded

from testkit.runs import trained_and_encoded

# baseline / model latent L1 at h=1 (teacher-forced) the toy configuration must reach:
COPY_LAST_RATIO = 1 / 0.85  # model L1 <= 0.85 x copy-last
SHUFFLED_RATIO = 1.15  # shuffled-action L1 >= 1.15 x the model's
MIRRORED_YAW_RATIO = 1.05  # reversed-yaw L1 >= 1.05 x the model's


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first bar test builds the session's toy world model (about 7 min)
def test_toy_world_model_beats_copy_last_and_uses_its_actions(tmp_path_factory):
    run, clips = trained_and_encoded(tmp_path_factory.getbasetemp())
    assert len(set(clips.keys)) >= 8, clips.keys
    report = evaluate_encoded(run, clips, EvalConfig(clips=len(clips), progress=False))
    head = report["headline"]
    copy_last, shuffled = head["copy_last_over_model_h1"], head["shuffled_over_model_h1"]
    print("latent bar:", {"copy_last/model": copy_last, "shuffled/model": shuffled,
                          "reversed_yaw/model": report["mirrored_camera"]["yaw"]})
    # the bar on the point estimate, and the whole 95 % interval past it too
    assert copy_last["lo"] >= COPY_LAST_RATIO, copy_last
    assert shuffled["lo"] >= SHUFFLED_RATIO, shuffled
    # the model knows which way the camera turned: reversing the yaw costs it at least 5 % (measured
    # lower bounds 1.107-1.129 over training seeds and thread counts, docs/world-model.md)
    assert report["mirrored_camera"]["yaw"]["lo"] >= MIRRORED_YAW_RATIO, report["mirrored_camera"]
