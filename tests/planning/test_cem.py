"""CEM on an analytic world model z_{t+1} = z_t + W a_t, where the right plan is known."""

from __future__ import annotations

import pytest
import torch

from craft_jepa.planning.action_space import ActionSpace, ActionSpaceConfig
from craft_jepa.planning.cem import CEMConfig, cem
from craft_jepa.planning.objectives import goal_l1, rollout_energy

NAMES = (["mouse_dx", "mouse_dy", "yaw_diff", "pitch_diff"]
         + [f"key.keyboard.{k}" for k in "wasd"] + ["key.keyboard.space", "mouse.0"]
         + [f"hotbar.{i}" for i in range(9)] + ["isGuiOpen"])
CONT = [True] * 4 + [False] * (len(NAMES) - 4)
# Camera stats: ~10 degrees std per step (mouse units = degrees / 0.15).
MEAN = [0.0, 0.0, 0.0, 0.0]
SCALE = [10 / 0.15, 5 / 0.15, 10.0, 5.0]


def make_space(**kw) -> ActionSpace:
    kw.setdefault("plan", "all")  # these tests exercise every kind of feature
    return ActionSpace(NAMES, CONT, MEAN, SCALE, ActionSpaceConfig(**kw))


def scale_fn(raw: torch.Tensor) -> torch.Tensor:
    out = raw.clone()
    out[..., :4] = (raw[..., :4] - torch.tensor(MEAN)) / torch.tensor(SCALE)
    return out


class LinearWorld:
    """z_{t+1} = z_t + W a_t on (N, D) latents: the planner's ideal test subject."""

    def __init__(self, n: int = 3, d: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(len(NAMES), n * d, generator=g)
        self.n, self.d = n, d

    def rollout(self, context: torch.Tensor, actions: torch.Tensor, states: torch.Tensor,
                steps: int):
        # context (M, 1, N, D), actions (M, H, A) scaled -> (M, H, N, D)
        step = (actions @ self.w).view(*actions.shape[:2], self.n, self.d)
        return context[:, -1:] + step.cumsum(1)


def test_samples_map_to_consistent_layout_vectors():
    space = make_space()
    dist = space.initial(batch=2, horizon=3)
    samples = space.sample(dist, 50, torch.Generator().manual_seed(0))
    raw = space.to_layout(samples)
    assert raw.shape == (2, 50, 3, len(NAMES))
    # mouse units and degrees describe the same camera motion (while no GUI is open)
    moving = raw[..., -1] < 0.5
    torch.testing.assert_close(raw[..., 0][moving] * 0.15, raw[..., 2][moving])
    torch.testing.assert_close(raw[..., 1][moving] * 0.15, raw[..., 3][moving])
    # bounded at 3 data stds (10 degrees yaw, 5 degrees pitch)
    assert raw[..., 2].abs().max() <= 30.0 + 1e-4 and raw[..., 3].abs().max() <= 15.0 + 1e-4
    binaries = raw[..., 4:10].unique()
    assert set(binaries.tolist()) <= {0.0, 1.0}
    # exactly one hotbar slot per step
    assert torch.all(raw[..., 10:19].sum(-1) == 1)
    torch.testing.assert_close(space.camera_degrees(raw), raw[..., 2:4])
    assert space.gui_index == len(NAMES) - 1


def test_groups_cover_the_feature_kinds():
    space = make_space()
    groups = dict(zip(NAMES, space.groups))
    assert groups["mouse_dx"] == "camera" and groups["pitch_diff"] == "camera"
    assert groups["key.keyboard.w"] == "movement" and groups["key.keyboard.space"] == "movement"
    assert groups["hotbar.3"] == "hotbar" and groups["mouse.0"] == "buttons"
    assert groups["isGuiOpen"] == "gui"


def test_scaler_stats_for_continuous_dims_only_or_all_dims_agree():
    a = ActionSpace(NAMES, CONT, MEAN, SCALE)
    b = ActionSpace(NAMES, CONT, MEAN + [0.0] * (len(NAMES) - 4), SCALE + [1.0] * (len(NAMES) - 4))
    torch.testing.assert_close(a.init_std, b.init_std)
    with pytest.raises(ValueError, match="scaler has 3 statistics"):
        ActionSpace(NAMES, CONT, MEAN[:3], SCALE[:3])


@pytest.mark.parametrize("mode", ["last", "all"])
def test_cem_recovers_a_known_plan(mode):
    world = LinearWorld()
    space = make_space()
    horizon = 2
    true_actions = torch.zeros(2, horizon, len(NAMES))
    yaw = torch.tensor([[12.0, 6.0], [-9.0, -15.0]])  # degrees, one sign per batch item
    true_actions[..., 0], true_actions[..., 2] = yaw / 0.15, yaw
    true_actions[0, :, 4] = 1.0  # item 0 holds w
    true_actions[..., 10] = 1.0  # hotbar slot 0
    z0 = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(1))
    goal = world.rollout(z0[:, None], scale_fn(true_actions), None, horizon)[:, -1]
    energy = rollout_energy(world.rollout, scale_fn, z0, goal, mode=mode)
    result = cem(space, energy, batch=2, config=CEMConfig(horizon=horizon, seed=3))
    assert result.actions.shape == (2, horizon, len(NAMES))
    planned_yaw = space.camera_degrees(result.actions)[..., 0].sum(1)
    assert torch.sign(planned_yaw).tolist() == [1.0, -1.0]
    # the plan lands much closer to the goal than doing nothing
    zero_energy = energy(torch.zeros(2, 1, horizon, len(NAMES)))[:, 0]
    assert torch.all(result.energy < 0.3 * zero_energy)
    # CEM's best sample never gets worse than in the first iteration
    assert torch.all(result.best_energy_per_iteration[-1] <= result.best_energy_per_iteration[0])


def test_cem_is_deterministic_for_a_seed_and_varies_across_seeds():
    world = LinearWorld()
    space = make_space()
    z0 = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(2))
    goal = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(3))
    energy = rollout_energy(world.rollout, scale_fn, z0, goal)
    cfg = dict(samples=64, top_k=8, iterations=3)
    a = cem(space, energy, 1, CEMConfig(seed=5, **cfg))
    b = cem(space, energy, 1, CEMConfig(seed=5, **cfg))
    c = cem(space, energy, 1, CEMConfig(seed=6, **cfg))
    torch.testing.assert_close(a.actions, b.actions)
    assert not torch.equal(a.actions, c.actions)


def test_chunked_energy_equals_unchunked():
    world = LinearWorld()
    z0, goal = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    actions = make_space().to_layout(
        make_space().sample(make_space().initial(2, 2), 10, torch.Generator().manual_seed(0)))
    full = rollout_energy(world.rollout, scale_fn, z0, goal, chunk=4096)(actions)
    small = rollout_energy(world.rollout, scale_fn, z0, goal, chunk=3)(actions)
    torch.testing.assert_close(full, small)
    # and the energy is the L1 definition itself
    pred = world.rollout(z0[:, None], scale_fn(actions[:, 4]), None, 2)
    torch.testing.assert_close(full[:, 4], goal_l1(pred, goal))


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="top_k"):
        CEMConfig(samples=5, top_k=10)
    with pytest.raises(ValueError, match="momentum"):
        CEMConfig(momentum=1.0)
    with pytest.raises(ValueError, match="key_init_prob"):
        ActionSpaceConfig(key_init_prob=2.0)


def test_offline_planning_refuses_a_cem_seed_it_would_not_use():
    from craft_jepa.planning.offline import OfflinePlanConfig

    with pytest.raises(ValueError, match=r"cem.seed=7 is not used.*cem_seeds=\(7,\)"):
        OfflinePlanConfig(cem=CEMConfig(seed=7), cem_seeds=(0, 1))
    assert OfflinePlanConfig(cem=CEMConfig(seed=1), cem_seeds=(1, 2)).cem_seeds == (1, 2)


def test_groups_of_the_stock_vpt38_layout():
    from craft_jepa.vpt.layouts import get_action_layout

    layout = get_action_layout("vpt38")
    space = ActionSpace(layout.feature_names, layout.continuous_mask, [0.0] * 4, [1.0] * 4)
    groups = dict(zip(layout.feature_names, space.groups))
    assert [n for n, g in groups.items() if g == "camera"] == list(layout.feature_names[:4])
    assert groups["key_1"] == groups["hotbar_8"] == "hotbar"
    assert groups["key_w"] == groups["key_left_shift"] == groups["key_space"] == "movement"
    assert groups["button_0"] == groups["button_2"] == "buttons"
    assert groups["gui_open"] == groups["key_e"] == groups["key_escape"] == "gui"
    assert len(space.slot_index) == 9 and len(space.binary_index) == 38 - 4 - 9


def test_gui_open_freezes_the_camera_degrees_but_not_the_mouse():
    space = make_space()
    samples = space.sample(space.initial(1, 4), 200, torch.Generator().manual_seed(0))
    raw = space.to_layout(samples)
    gui = raw[..., NAMES.index("isGuiOpen")] > 0.5
    assert gui.any() and (~gui).any()
    assert torch.all(raw[..., 2][gui] == 0) and torch.all(raw[..., 3][gui] == 0)
    assert raw[..., 0][gui].abs().sum() > 0  # the cursor still moves
    torch.testing.assert_close(raw[..., 0][~gui] * 0.15, raw[..., 2][~gui])


@pytest.mark.parametrize("plan", ["camera", "camera+movement", "actions"])
def test_features_left_unplanned_take_the_hold_values(plan):
    space = make_space(plan=plan)
    hold = torch.zeros(2, len(NAMES))
    hold[0, NAMES.index("isGuiOpen")] = 1.0  # a state-like feature known at the start
    hold[1, NAMES.index("key.keyboard.w")] = 1.0  # an action feature: held only if unplanned
    samples = space.sample(space.initial(2, 3), 50, torch.Generator().manual_seed(0))
    raw = space.to_layout(samples, space.hold_from(hold) if plan == "actions" else hold)  # (2, 50, 3, A)
    fixed = ~space.planned_mask
    assert fixed.any() and space.planned_mask[:2].all()  # the camera is always planned
    expected = (space.hold_from(hold) if plan == "actions" else hold)[:, None, None, fixed]
    assert torch.equal(raw[..., fixed], expected.expand_as(raw[..., fixed]))
    planned_binary = [i for i in range(len(NAMES)) if space.planned_mask[i] and not CONT[i]]
    if planned_binary:  # what CEM plans still varies across samples
        assert raw[..., planned_binary].std(1).sum() > 0
    gui = NAMES.index("isGuiOpen")
    assert not space.planned_mask[gui]  # state-like: never sampled unless plan="all"


def test_held_camera_plans_one_motion_for_the_whole_horizon():
    # In an additive world the goal fixes the camera's total only: a held plan moves the camera
    # by the same (yaw, pitch) every step, and that total still reaches the goal.
    world = LinearWorld(seed=4)
    horizon = 3
    space = make_space(plan="camera", camera="held")
    true_actions = torch.zeros(2, horizon, len(NAMES))
    yaw = torch.tensor([[14.0, 2.0, 5.0], [-3.0, -12.0, -6.0]])  # uneven splits of +21 and -21
    true_actions[..., 0], true_actions[..., 2] = yaw / 0.15, yaw
    z0 = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(5))
    goal = world.rollout(z0[:, None], scale_fn(true_actions), None, horizon)[:, -1]
    energy = rollout_energy(world.rollout, scale_fn, z0, goal)
    samples = space.sample(space.initial(2, horizon), 64, torch.Generator().manual_seed(0))
    assert torch.equal(samples.params[..., :2], samples.params[..., :1, :2].expand_as(samples.params[..., :2]))
    result = cem(space, energy, batch=2, config=CEMConfig(horizon=horizon, samples=300, iterations=8, seed=1))
    camera = space.camera_degrees(result.actions)  # (2, H, 2)
    assert torch.allclose(camera, camera[:, :1].expand_as(camera))
    assert camera[..., 0].sum(1).tolist() == pytest.approx([21.0, -21.0], abs=2.0)
    with pytest.raises(ValueError, match="camera"):
        ActionSpaceConfig(camera="sometimes")
