"""The bar (issue 12): offline planning with the demo's toy world model recovers the recorded
camera yaw between held-out frames, clearly better than any constant guess.

Issue 12 asks for yaw sign agreement >= 0.85 and >= the majority sign + 0.10, and a
planned/recorded yaw correlation >= 0.6, on every training and CEM seed. The toy configuration
(48 training recordings, 4000 steps) meets them on all 9 cells of training seeds 0-2 x CEM seeds
0-2 (worst 0.863 and 0.761; benchmarks/planning_grid.py, docs/world-model.md). This test trains
one seed and plans with one CEM seed, whose sign agreement is known only to about +-0.1 with 51
pairs (bootstrap [0.78, 0.96] around 0.88), so it asserts the majority + 0.10 and the 0.6 of the
issue as they are and the 0.85 with a margin: 0.80. Measured on CEM seed 0, training seed 0, at
1 / 2 / 4 torch threads: sign agreement 0.92 / 0.88 / 0.86 (majority 0.57), correlation
0.81 / 0.87 / 0.73; and camera error below planning no motion at all."""

from __future__ import annotations

import pytest

from craft_jepa.pipelines.demo import toy_cem
from craft_jepa.planning.offline import OfflinePlanConfig, evaluate_planning
from testkit.runs import trained_and_encoded

SIGN_AGREEMENT = 0.80  # yaw sign agreement on turning pairs (issue: 0.85 over the seed grid)
OVER_MAJORITY = 0.10  # ... and at least this far above the best constant sign
CORRELATION = 0.6  # planned vs recorded total yaw
CAMERA_ERROR_RATIO = 1.0  # planned camera error below planning no motion


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first bar test builds the session's toy world model (about 7 min)
def test_planning_recovers_the_recorded_yaw(tmp_path_factory):
    run, clips = trained_and_encoded(tmp_path_factory.getbasetemp())
    config = OfflinePlanConfig(pairs=len(clips), min_yaw_deg=2.0, landscape_points=0, cem_seeds=(0,),
                               cem=toy_cem())  # the demo's CEM settings
    summary = evaluate_planning(run, clips, config, progress=False)["summary"]
    print("planning bar:", {k: summary[k] for k in ("turning_pairs", "yaw_sign_agreement", "yaw_majority_sign_rate",
                                                    "yaw_correlation", "camera_error_deg", "zero_camera_error_deg")})
    assert summary["turning_pairs"] >= 40, summary
    assert summary["yaw_sign_agreement"] >= SIGN_AGREEMENT, summary
    assert summary["yaw_sign_agreement"] >= summary["yaw_majority_sign_rate"] + OVER_MAJORITY, summary
    assert summary["yaw_correlation"] >= CORRELATION, summary
    assert summary["camera_error_deg"] < CAMERA_ERROR_RATIO * summary["zero_camera_error_deg"], summary
