"""The camera prior of the planner (`ActionSpaceConfig.camera_prior`, `objectives.with_prior`).

A goal k steps ahead fixes the total camera motion, not its split over the steps: these tests build
worlds where the energy sees only that total and check what the prior then chooses."""

from __future__ import annotations

import pytest
import torch

from craft_jepa.planning.action_space import ActionSpace, ActionSpaceConfig
from craft_jepa.planning.cem import CEMConfig, cem
from craft_jepa.planning.objectives import with_prior

NAMES = ["mouse_dx", "mouse_dy", "yaw_diff", "pitch_diff", "key.keyboard.w"]
CONT = [True] * 4 + [False]
YAW_MEAN, YAW_STD, PITCH_STD = 1.0, 10.0, 2.0  # degrees per step
MEAN = [YAW_MEAN / 0.15, 0.0, YAW_MEAN, 0.0]
SCALE = [YAW_STD / 0.15, PITCH_STD / 0.15, YAW_STD, PITCH_STD]


def make_space(prior: float) -> ActionSpace:
    return ActionSpace(NAMES, CONT, MEAN, SCALE, ActionSpaceConfig(camera_prior=prior))


def total_yaw_energy(target: torch.Tensor):
    """An energy that sees only the total yaw over the horizon: |sum of yaw - target| per pair."""
    def energy(actions: torch.Tensor) -> torch.Tensor:  # (B, S, H, A) -> (B, S)
        return (actions[..., 2].sum(-1) - target[:, None]).abs()
    return energy


def test_prior_cost_is_the_mean_squared_z_score_of_the_camera():
    space = make_space(0.1)
    raw = torch.zeros(2, 3, len(NAMES))  # (B, H, A)
    raw[0, :, 2], raw[0, :, 0] = YAW_MEAN, YAW_MEAN / 0.15  # the data mean every step: cost 0
    raw[1, :, 2] = YAW_MEAN + YAW_STD  # one std of yaw ...
    raw[1, 0, 3] = 3 * PITCH_STD  # ... and three of pitch on one step of three: 1 + 9 / 3
    assert space.camera_prior_cost(raw).tolist() == pytest.approx([0.0, 4.0])


def test_the_prior_splits_a_total_the_energy_cannot_split():
    # Without the prior any split of +30 degrees over 2 steps is a minimum; with it, the even split
    # (the least unlikely under the data's Gaussian) is, and the total stays near the goal's.
    target = torch.tensor([30.0, -30.0, 0.0])
    plans = {}
    for prior in (0.0, 0.05):
        space = make_space(prior)
        energy = total_yaw_energy(target)
        if prior:
            energy = with_prior(energy, space.camera_prior_cost, prior, torch.full((3, 1), 30.0))
        result = cem(space, energy, batch=3, config=CEMConfig(horizon=2, samples=300, iterations=10, seed=0))
        plans[prior] = space.camera_degrees(result.actions)  # (3, 2 steps, 2)
    split_without = (plans[0.0][:, 0, 0] - plans[0.0][:, 1, 0]).abs()
    split_with = (plans[0.05][:, 0, 0] - plans[0.05][:, 1, 0]).abs()
    assert split_with.max() < 2.5, plans[0.05]
    print("split without the prior", split_without.tolist(), "with it", split_with.tolist())
    assert split_without.mean() > 3 * split_with.mean() + 1.0, (plans[0.0], plans[0.05])
    assert plans[0.05][..., 0].sum(1).tolist() == pytest.approx(target.tolist(), abs=3.0)
    # pitch, which this energy does not see, goes to the data's mean (0) under the prior
    assert plans[0.05][..., 1].abs().max() < 0.5 < plans[0.0][..., 1].abs().max()


def test_the_prior_is_measured_in_the_energy_scale_so_scaling_the_energy_changes_no_plan():
    # Energies and references 4x larger (a power of 2: exact in floating point) give the same plans.
    target = torch.tensor([12.0, -25.0])
    space = make_space(0.1)
    plans = []
    for factor in (1.0, 4.0):
        base = total_yaw_energy(target)
        energy = with_prior(lambda a, base=base, factor=factor: factor * base(a), space.camera_prior_cost, 0.1,
                            torch.full((2, 1), 20.0 * factor))
        plans.append(cem(space, energy, batch=2, config=CEMConfig(horizon=2, samples=64, iterations=4, seed=3)).actions)
    assert torch.equal(plans[0], plans[1])


def test_prior_weight_zero_leaves_the_energy_and_negative_weights_are_refused():
    energy = total_yaw_energy(torch.tensor([5.0]))
    actions = torch.randn(1, 7, 2, len(NAMES))
    space = make_space(0.0)
    assert torch.equal(with_prior(energy, space.camera_prior_cost, 0.0, torch.ones(1, 1))(actions), energy(actions))
    with pytest.raises(ValueError, match="prior weight"):
        with_prior(energy, space.camera_prior_cost, -0.1, torch.ones(1, 1))
    with pytest.raises(ValueError, match="camera_prior"):
        ActionSpaceConfig(camera_prior=-1.0)
