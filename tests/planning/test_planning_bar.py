"""The bar (issue 12): offline planning with the demo's toy world model recovers the recorded
camera yaw between held-out frames, clearly better than any constant guess."""

from __future__ import annotations

import pytest

from craft_jepa.demo import toy_cem
from craft_jepa.planning.offline import OfflinePlanConfig, evaluate_planning
from eval.runs import trained_and_encoded

SIGN_AGREEMENT = 0.85  # planned vs recorded sign of the total yaw, over turning pairs
OVER_MAJORITY = 0.10  # and this far above the best constant sign
CORRELATION = 0.6  # planned vs recorded total yaw


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first bar test builds the session's toy world model (about 5 min)
def test_planning_recovers_the_recorded_yaw(tmp_path_factory):
    run, clips = trained_and_encoded(tmp_path_factory.getbasetemp())
    config = OfflinePlanConfig(pairs=len(clips), min_yaw_deg=2.0, landscape_points=0, cem_seeds=(0,),
                               cem=toy_cem())  # the demo's CEM settings
    summary = evaluate_planning(run, clips, config, progress=False)["summary"]
    assert summary["turning_pairs"] >= 40, summary
    assert summary["yaw_sign_agreement"] >= SIGN_AGREEMENT, summary
    assert summary["yaw_sign_agreement"] >= summary["yaw_majority_sign_rate"] + OVER_MAJORITY, summary
    assert summary["yaw_correlation"] >= CORRELATION, summary
    # planning the camera beats planning no motion at all
    assert summary["camera_error_deg"] < summary["zero_camera_error_deg"], summary
