"""Eval metrics on a world with known dynamics: the right answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from craft_jepa.eval.groups import feature_group
from craft_jepa.eval.metrics import derangement, evaluate_horizons
from craft_jepa.eval.probe import inverse_dynamics_probe, micro_f1
from craft_jepa.eval.sensitivity import action_sensitivity

from .analytic import CONT, NAMES, LinearWorld


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
    for mode in a:
        for method in a[mode]:
            assert a[mode][method]["l1"] == pytest.approx(b[mode][method]["l1"], rel=1e-5)
    assert a["tf"]["shuffled_actions"]["l1"] != pytest.approx(c["tf"]["shuffled_actions"]["l1"])


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


def test_probe_reads_actions_from_real_and_exact_predicted_futures():
    world = LinearWorld(n=2, d=16, seed=2)
    z, actions, states = world.clips(c=40, t=5, noise=0.01)
    predicted = world(z[:, :-1], actions, states[:, :-1])
    out = inverse_dynamics_probe(z.mean(2), predicted.mean(2), actions, NAMES, CONT, seed=0)
    assert out["real"]["key_f1"] > 0.8
    assert out["predicted"]["key_f1"] > 0.8
    assert out["copy_last"]["key_f1"] < out["real"]["key_f1"] - 0.2
    assert out["real"]["camera_error_deg"] < 0.5 * out["mean_action"]["camera_error_deg"]
    assert out["train_clips"]["count"] + out["test_clips"]["count"] == 40


def test_micro_f1():
    assert micro_f1(torch.tensor([1.0, 0, 1]), torch.tensor([1.0, 0, 0])) == pytest.approx(2 / 3)
    assert math.isnan(micro_f1(torch.zeros(3), torch.zeros(3)))
