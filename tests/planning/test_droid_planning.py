"""Planning over DROID's 7-D end-effector action as Meta's notebook does it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("scipy")

from craft_jepa.data.droid import poses_to_actions  # noqa: E402
from craft_jepa.data.droid_synth import random_walk_states  # noqa: E402
from craft_jepa.models import ACPredictor, PredictorConfig  # noqa: E402
from craft_jepa.planning.droid import (  # noqa: E402
    DroidCEMConfig,
    compose_pose,
    energy_landscape,
    landscape_report,
    plan_droid_cem,
    predictor_energy,
    rolled_states,
)
from craft_jepa.eval.report import plot_landscape  # noqa: E402
from craft_jepa.planning.objectives import goal_l1  # noqa: E402


def test_rolling_the_recorded_actions_forward_gives_the_recorded_poses() -> None:
    """compose_pose inverts data/droid.py's poses_to_actions (gripper inside [0, 1])."""
    states = random_walk_states(12, np.random.default_rng(9))
    actions = poses_to_actions(states)  # (11, 7)
    rolled = rolled_states(states[0], np.concatenate([actions, np.zeros((1, 7))])[None])[0]  # (12, 7)
    np.testing.assert_allclose(rolled[:, :3], states[:, :3], atol=1e-12)
    np.testing.assert_allclose(rolled[:, 6], states[:, 6], atol=1e-12)
    # Euler angles are not unique: compare the rotations.
    from scipy.spatial.transform import Rotation

    np.testing.assert_allclose(Rotation.from_euler("xyz", rolled[:, 3:6]).as_matrix(),
                               Rotation.from_euler("xyz", states[:, 3:6]).as_matrix(), atol=1e-10)
    assert compose_pose(np.r_[states[0, :6], 0.9], np.r_[np.zeros(6), 0.5])[6] == 1.0  # clipped


def test_cem_finds_a_known_minimum_and_keeps_the_notebooks_rules() -> None:
    target = torch.tensor([0.06, -0.03, 0.02], dtype=torch.float64)  # over 2 steps, each within 0.05

    def energy(actions: torch.Tensor) -> torch.Tensor:  # (S, H, 7) -> (S,)
        reached = actions[..., :3].sum(dim=1)
        return (reached - target).abs().sum(dim=-1) + (actions[..., 6] - 0.1).abs().sum(dim=1)

    config = DroidCEMConfig(samples=200, iterations=15)
    plan = plan_droid_cem(energy, config)
    assert plan.actions.shape == (2, 7)
    torch.testing.assert_close(plan.actions.sum(dim=0)[:3], target, rtol=0, atol=4e-3)
    assert (plan.actions[:, 3:6] == 0).all() and (plan.actions[:, :3].abs() <= config.maxnorm).all()
    assert (plan.actions[:, 6] == 0).all()  # a gripper mean near 0.1 is zeroed (< 0.25)
    assert plan.best_energy_per_iteration[-1] < plan.best_energy_per_iteration[0]
    again = plan_droid_cem(energy, config)
    assert torch.equal(plan.actions, again.actions)


def test_predictor_energy_equals_metas_step_by_step_feed() -> None:
    """Meta's notebook predicts one frame at a time, re-running the whole sequence and feeding the
    pose rolled forward after each step; our energy computes the poses first and rolls out once."""
    predictor = ACPredictor(PredictorConfig(preset="ac_tiny", encoder_dim=32, grid_size=2, width=64,
                                            action_dim=7, state_dim=7, state_token=True, init_seed=3)).eval()
    generator = torch.Generator().manual_seed(0)
    z_start, z_goal = torch.randn(2, 4, 32, generator=generator)
    start = random_walk_states(1, np.random.default_rng(1))[0]
    actions = torch.rand(5, 3, 7, generator=generator, dtype=torch.float64) * 0.1 - 0.05  # (S, H, 7)
    ours = predictor_energy(predictor, z_start, start, z_goal)(actions)

    frames = z_start[None, None].expand(5, 1, -1, -1)  # (S, 1, N, D)
    poses = torch.from_numpy(np.tile(start, (5, 1, 1))).float()  # (S, 1, 7)
    with torch.no_grad():
        for h in range(3):
            step_actions = actions[:, : h + 1].float()
            nxt = predictor(frames, step_actions, poses)[:, -1:]  # (S, 1, N, D)
            frames = torch.cat([frames, nxt], dim=1)
            new_pose = compose_pose(poses[:, -1].double().numpy(), step_actions[:, -1].double().numpy())
            poses = torch.cat([poses, torch.from_numpy(new_pose).float()[:, None]], dim=1)
    theirs = goal_l1(frames[:, 1:], z_goal[None].expand(5, -1, -1), "last")
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_energy_landscape_has_its_minimum_where_the_energy_does(tmp_path) -> None:
    def energy(actions: torch.Tensor) -> torch.Tensor:
        return (actions[:, 0, 0] - 0.02).abs() + (actions[:, 0, 1] + 0.03).abs()

    offsets, energies = energy_landscape(energy, maxnorm=0.05, points=11)
    row, col = np.unravel_index(energies.argmin(), energies.shape)
    assert (offsets[col], offsets[row]) == pytest.approx((0.02, -0.03))

    def two_steps(actions: torch.Tensor) -> torch.Tensor:  # (S, 2, 7): minimum where the SUM is reached
        return (actions[:, :, 0].sum(1) - 0.04).abs() + (actions[:, :, 1].sum(1) + 0.06).abs()

    recorded = torch.zeros(2, 7, dtype=torch.float64)
    recorded[:, 0], recorded[:, 1] = torch.tensor([0.01, 0.03]), torch.tensor([-0.03, -0.03])
    landscape = landscape_report(two_steps, 0.05, 11, recorded, torch.zeros(2, 7))
    assert landscape["horizon"] == 2 and landscape["min_at"] == pytest.approx([0.02, -0.03])
    assert landscape["recorded"] == pytest.approx([0.02, -0.03]) and landscape["planned"] == [0.0, 0.0]
    plot_landscape(landscape, tmp_path / "landscape.png")
    assert (tmp_path / "landscape.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
