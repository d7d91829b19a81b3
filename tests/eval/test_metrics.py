"""Eval metrics on a world with known dynamics: the right answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from craft_jepa.vpt.action_groups import feature_group
from craft_jepa.eval.metrics import derangement, evaluate_horizons
from craft_jepa.eval.probe import inverse_dynamics_probe, micro_f1
from craft_jepa.eval.sensitivity import action_sensitivity

from testkit.analytic import CONT, NAMES, LinearWorld


def test_exact_model_is_perfect_and_beats_every_baseline():
    world = LinearWorld()
    z, actions, states = world.clips(c=12, t=5)
    result = evaluate_horizons(world, z, actions, states, seed=0, batch_size=5)
    for mode in ("tf", "rollout"):
        model = result[mode]["model"]["l1"]
        assert len(model) == 4 and max(model) < 1e-5
        assert min(result[mode]["model"]["cosine"]) > 0.9999
        for baseline in ("copy_last", "dataset_mean", "zero_actions", "shuffled_actions"):
            assert min(result[mode][baseline]["l1"]) > 0.1, (mode, baseline)
    # both ways of predicting frame 1 are the same prediction
    for method in ("model", "copy_last", "shuffled_actions"):
        assert result["tf"][method]["l1"][0] == pytest.approx(result["rollout"][method]["l1"][0])
    # errors of a rollout without the right actions grow with the horizon
    copy = result["rollout"]["copy_last"]["l1"]
    assert copy[-1] > copy[0]


def test_results_do_not_depend_on_batching_and_are_seeded():
    world = LinearWorld()
    z, actions, states = world.clips(c=9, t=4, noise=0.1)
    a = evaluate_horizons(world, z, actions, states, seed=3, batch_size=2)
    b = evaluate_horizons(world, z, actions, states, seed=3, batch_size=9)
    c = evaluate_horizons(world, z, actions, states, seed=4, batch_size=9)
    for mode in ("tf", "rollout"):
        for method in a[mode]:
            assert a[mode][method]["l1"] == pytest.approx(b[mode][method]["l1"], rel=1e-5)
            if method != "model":
                for row_a, row_b in zip(a["ratios"][mode][method], b["ratios"][mode][method]):
                    assert row_a == pytest.approx(row_b, rel=1e-5)
    assert a["tf"]["shuffled_actions"]["l1"] != pytest.approx(c["tf"]["shuffled_actions"]["l1"])


def test_ratios_are_paired_baseline_over_model_with_intervals():
    world = LinearWorld()
    z, actions, states = world.clips(c=16, t=4, noise=0.05)
    result = evaluate_horizons(world, z, actions, states, seed=0, batch_size=4)
    for mode in ("tf", "rollout"):
        for method in ("copy_last", "zero_actions", "shuffled_actions"):
            rows = result["ratios"][mode][method]
            assert len(rows) == 3
            for h, row in enumerate(rows):
                expected = result[mode][method]["l1"][h] / result[mode]["model"]["l1"][h]
                assert row["value"] == pytest.approx(expected, rel=1e-9)
                assert row["lo"] <= row["value"] <= row["hi"]
                assert row["lo"] > 1.5  # an exact model beats each baseline by far, whole interval
    # a model that ignores its actions gets a zeroed-action ratio of exactly 1
    still = LinearWorld(active=[])
    flat = evaluate_horizons(still, z, actions, states, seed=0)["ratios"]["tf"]["zero_actions"]
    assert all(row["value"] == pytest.approx(1.0) and row["lo"] == pytest.approx(1.0) for row in flat)


def test_derangement_has_no_fixed_point():
    for seed in range(20):
        perm = derangement(7, torch.Generator().manual_seed(seed))
        assert sorted(perm.tolist()) == list(range(7))
        assert all(perm[i] != i for i in range(7))
    with pytest.raises(ValueError, match="at least 2 clips"):
        derangement(1, torch.Generator())


def test_sensitivity_finds_exactly_the_groups_the_world_uses():
    world = LinearWorld(active=[0, 1, 2, 3])  # only the camera moves the world
    z, actions, states = world.clips(c=8, t=4)
    groups = [feature_group(n, c) for n, c in zip(NAMES, CONT)]
    result = action_sensitivity(world, z, actions, states, groups, seed=0, batch_size=3)
    assert set(result) == {"camera", "movement", "buttons", "gui"}
    assert result["camera"]["delta_l1"] > 0.1
    assert result["camera"]["changed_fraction"] == 1.0
    for group in ("movement", "buttons", "gui"):
        assert result[group]["delta_l1"] < 1e-6
        assert 0.0 < result[group]["changed_fraction"] < 1.0


KEYS = [f"segment-{i // 4}" for i in range(40)]  # 10 segments of 4 clips each


def test_probe_reads_actions_from_real_and_exact_predicted_futures():
    world = LinearWorld(n=2, d=16, seed=2)
    z, actions, states = world.clips(c=40, t=5, noise=0.01)
    predicted = world(z[:, :-1], actions, states[:, :-1])
    out = inverse_dynamics_probe(z.mean(2), predicted.mean(2), actions, NAMES, CONT, KEYS, seed=0)
    assert out["real"]["action_f1"] > 0.8
    assert out["predicted"]["action_f1"] > 0.8
    assert out["no_future"]["action_f1"] < out["real"]["action_f1"] - 0.2
    assert out["real"]["camera_error_deg"] < 0.5 * out["majority"]["camera_error_deg"]
    assert out["fit_clips"]["count"] + out["scored_clips"]["count"] == 40
    assert {"f1_movement", "f1_buttons", "f1_state"} <= set(out["real"])


def test_probe_splits_by_segment_and_keeps_state_out_of_the_action_score():
    # The GUI flag is written into z_t itself (state visible in the frame) and no action moves
    # the world: a probe reads the state from z_t alone, and reads no action at all.
    g = torch.Generator().manual_seed(0)
    c, t = 40, 5
    actions = (torch.rand(c, t - 1, len(NAMES), generator=g) < 0.3).float()
    actions[..., :4] = torch.randn(c, t - 1, 4, generator=g)
    gui = NAMES.index("gui_open")
    z = torch.randn(c, t, 8, generator=g) * 0.01
    z[:, :-1, 0] += actions[..., gui] * 3.0
    out = inverse_dynamics_probe(z, z[:, 1:], actions, NAMES, CONT, KEYS, seed=0)
    assert out["no_future"]["state_f1"] > 0.9  # read from the present frame...
    assert not out["no_future"]["action_f1"] > 0.6  # ...and kept out of the action score
    fit, scored = out["fit_segments"]["count"], out["scored_segments"]["count"]
    assert fit + scored == 10 and fit >= 1 and scored >= 1


def test_segment_split_never_puts_one_segment_on_both_sides():
    from craft_jepa.eval.probe import segment_split

    keys = [f"s{i % 7}" for i in range(50)]
    for seed in range(5):
        fit, scored = segment_split(keys, 0.5, seed)
        assert {keys[i] for i in fit.tolist()}.isdisjoint({keys[i] for i in scored.tolist()})
        assert len(fit) + len(scored) == 50
    with pytest.raises(ValueError, match="at least 2 segments"):
        segment_split(["one"] * 5, 0.5, 0)


def test_micro_f1():
    assert micro_f1(torch.tensor([1.0, 0, 1]), torch.tensor([1.0, 0, 0])) == pytest.approx(2 / 3)
    assert math.isnan(micro_f1(torch.zeros(3), torch.zeros(3)))


def test_mirrored_camera_sees_which_axis_the_world_uses():
    from craft_jepa.eval.sensitivity import mirrored_camera

    world = LinearWorld(active=[0, 2])  # only yaw (mouse_dx, yaw_diff) moves the world
    z, actions, states = world.clips(c=12, t=4)
    out = mirrored_camera(world, z, actions, states, lambda a: a, NAMES, CONT, seed=0, batch_size=5)
    assert out["yaw"]["lo"] > 1.5  # reversing the yaw costs the exact model a lot...
    assert out["pitch"]["value"] == pytest.approx(1.0) and out["pitch"]["hi"] == pytest.approx(1.0)  # ...pitch nothing


def test_probe_ridge_is_chosen_by_cross_validation_over_segments():
    # Few pairs, many input dimensions, one of which carries the yaw: a small fixed penalty
    # overfits the noise dimensions and reads the camera worse than a constant guess; the
    # penalty cross-validated on the fit segments does not.
    from craft_jepa.eval.probe import ProbeConfig

    g = torch.Generator().manual_seed(0)
    c, t, d = 40, 3, 96
    keys = [f"segment-{i // 2}" for i in range(c)]
    actions = (torch.rand(c, t - 1, len(NAMES), generator=g) < 0.3).float()
    actions[..., :4] = torch.randn(c, t - 1, 4, generator=g)
    z = torch.randn(c, t, d, generator=g)
    z[:, 1:, 0] = z[:, :-1, 0] + actions[..., 0]
    chosen = inverse_dynamics_probe(z, z[:, 1:], actions, NAMES, CONT, keys, seed=0)
    fixed = inverse_dynamics_probe(z, z[:, 1:], actions, NAMES, CONT, keys, ProbeConfig(ridge=1e-2), seed=0)
    majority = chosen["majority"]["camera_error_deg"]
    assert fixed["real"]["camera_error_deg"] > 1.1 * majority
    assert chosen["real"]["camera_error_deg"] < 1.02 * majority
    assert chosen["ridge"]["median"] >= 100.0 and fixed["ridge"] == {"min": 1e-2, "median": 1e-2, "max": 1e-2}
    # Plenty of clean pairs of a linear world: the smallest penalties of the grid fit best.
    world = LinearWorld(n=2, d=16, seed=2)
    z, actions, states = world.clips(c=40, t=5, noise=0.01)
    out = inverse_dynamics_probe(z.mean(2), z[:, 1:].mean(2), actions, NAMES, CONT, KEYS, seed=0)
    assert out["ridge"]["min"] <= 0.1
    assert out["real"]["camera_error_deg"] < 0.5 * out["majority"]["camera_error_deg"]


def test_probe_fitted_on_other_clips_scores_every_clip():
    # Fitted on the clips of one recording set (the training data), scored on all clips of
    # another: reads the actions of a linear world from real pairs, not from the present alone.
    world = LinearWorld(n=2, d=16, seed=2)
    z_fit, a_fit, _ = world.clips(c=60, t=5, noise=0.01)
    z, actions, states = world.clips(c=20, t=5, noise=0.01)
    predicted = world(z[:, :-1], actions, states[:, :-1])
    fit_keys = [f"train-{i // 4}" for i in range(60)]
    out = inverse_dynamics_probe(z.mean(2), predicted.mean(2), actions, NAMES, CONT, KEYS[:20], seed=0,
                                 fit=(z_fit.mean(2), a_fit, fit_keys))
    assert out["fit_on"] == {"source": "training data"}
    assert out["scored_clips"]["count"] == 20 and out["fit_clips"]["count"] == 60
    assert out["fit_segments"]["count"] == 15 and out["scored_segments"]["count"] == 5
    assert out["real"]["action_f1"] > 0.8 and out["no_future"]["action_f1"] < out["real"]["action_f1"] - 0.2
    gain = out["real_minus_no_future_action_f1"]
    assert gain["lo"] > 0.2 and gain["lo"] <= gain["value"] <= gain["hi"]
    with pytest.raises(ValueError, match="keys for"):
        inverse_dynamics_probe(z.mean(2), predicted.mean(2), actions, NAMES, CONT, KEYS[:20],
                               fit=(z_fit.mean(2), a_fit, fit_keys[:-1]))


def test_no_future_row_reads_what_the_present_frame_shows():
    # Each step's binary actions are written into z_t (like a firing weapon on screen) and no
    # action changes the next frame: the future adds nothing, so a fitted present-only probe
    # reads the actions as well as the probe with the future (gain interval around 0).
    g = torch.Generator().manual_seed(0)
    c, t, d = 80, 5, 12
    actions = (torch.rand(c, t - 1, len(NAMES), generator=g) < 0.3).float()
    actions[..., :4] = torch.randn(c, t - 1, 4, generator=g)
    binary = [i for i, cont in enumerate(CONT) if not cont][:d]
    z = torch.randn(c, t, d, generator=g) * 0.05
    z[:, :-1, :len(binary)] += actions[..., binary] * 2.0
    keys = [f"segment-{i // 4}" for i in range(c)]
    out = inverse_dynamics_probe(z, z[:, 1:], actions, NAMES, CONT, keys, seed=0)
    assert out["no_future"]["action_f1"] > 0.8
    gain = out["real_minus_no_future_action_f1"]
    assert gain["lo"] <= 0.0 <= gain["hi"] or abs(gain["value"]) < 0.05
