"""Pictures through the pixel decoder (eval/pictures.py, WorldModel.decode / imagine).

Fast: phase correlation recovers known shifts; the pictures of an untrained tiny export exist
with their declared sizes; eval reports show them. Slow (one test): on the demo's toy world
model, decoded turn-left and turn-right rollouts shift the scenery in opposite horizontal
directions, the way the synthetic renderer moves it, and no-op stays closest to the start.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from craft_jepa.api import WorldModel
from craft_jepa.configuration import config_to_dict
from craft_jepa.encoders import EncoderConfig
from craft_jepa.eval.pictures import (SCRIPTED, STRIP_ROWS, grid_size, phase_shift, scripted_actions,
                                      write_pictures)
from craft_jepa.models.pixel_decoder import DecoderConfig, TokenDecoder
from craft_jepa.runs.decoder_files import save_decoder

from testkit.runs import TINY_FRAMES, make_tiny_export


def _scene(seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    """A smooth random texture, periodic (np.roll moves it without new content)."""
    rng = np.random.default_rng(seed)
    spectrum = rng.normal(size=(h, w)) + 1j * rng.normal(size=(h, w))
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    spectrum *= np.exp(-(fy**2 + fx**2) / (2 * 0.08**2))
    img = np.fft.ifft2(spectrum).real
    return ((img - img.min()) / (img.max() - img.min()) * 255).astype(np.uint8)


@given(st.integers(0, 10_000), st.integers(-12, 12), st.integers(-12, 12))
def test_phase_shift_recovers_a_known_translation(seed, dy, dx):
    ref = _scene(seed)
    moved = np.roll(ref, (dy, dx), axis=(0, 1))  # content moves down by dy, right by dx
    got = phase_shift(np.stack([ref] * 3, -1), np.stack([moved] * 3, -1))
    assert abs(got[0] - dy) <= 0.5 and abs(got[1] - dx) <= 0.5, (got, dy, dx)


def test_scripted_actions_turn_opposite_ways_and_hold_the_hotbar():
    from craft_jepa.vpt.layouts import get_action_layout

    layout = get_action_layout("vpt38")
    names = list(layout.feature_names)
    hold = np.zeros(len(names), dtype=np.float32)
    hold[names.index("hotbar_3")] = 1
    acts = scripted_actions(layout, None, 3, hold, degrees=6.0)
    assert list(acts) == list(SCRIPTED)
    yaw, dx = names.index("yaw_diff"), names.index("mouse_dx")
    assert (acts["turn_left"][:, yaw] == -6).all() and (acts["turn_right"][:, yaw] == 6).all()
    assert (acts["turn_right"][:, dx] == 40).all()  # 0.15 degrees per mouse unit
    assert (acts["look_up"][:, names.index("pitch_diff")] < 0).all()  # +pitch looks down
    assert (acts["walk_forward"][:, names.index("key_w")] == 1).all()
    assert (acts["attack"][:, names.index("button_0")] == 1).all()
    for name, a in acts.items():
        assert a.shape == (3, len(names)) and (a[:, names.index("hotbar_3")] == 1).all(), name
    other = [i for i in range(len(names)) if names[i] != "hotbar_3"]
    assert not acts["no_op"][:, other].any()


@pytest.fixture(scope="module")
def export_with_decoder(tmp_path_factory):
    """The untrained tiny export (32 px, 2x2 tokens) with an untrained decoder of its encoder."""
    folder = make_tiny_export(tmp_path_factory.mktemp("export-decoder"))
    encoder = EncoderConfig(name="vit_tiny", img_size=32, init_seed=0)
    save_decoder(folder, TokenDecoder(DecoderConfig(width=16), 96, 2, 32), {"encoder": config_to_dict(encoder)})
    return folder


def test_pictures_exist_with_their_declared_sizes(export_with_decoder, synth_dataset, tmp_path):
    model = WorldModel.from_pretrained(export_with_decoder)
    record = write_pictures(model.run, model.decoder, synth_dataset.shard_urls, tmp_path, clips=2, steps=3)
    strips = record["strips"]
    with Image.open(strips["png"]) as im:
        assert im.size == grid_size(2 * len(STRIP_ROWS), TINY_FRAMES, 32) == tuple(strips["size"])
    for gif in strips["gifs"]:
        with Image.open(gif) as im:
            assert im.n_frames == TINY_FRAMES and im.size == grid_size(1, len(STRIP_ROWS), 32)
    cf = record["counterfactual"]
    with Image.open(cf["png"]) as im:
        assert im.size == grid_size(len(SCRIPTED), 1 + 3, 32) == tuple(cf["size"])
    with Image.open(cf["gif"]) as im:
        assert im.n_frames == 1 + 3 and im.size == grid_size(1, len(SCRIPTED), 32)
    assert set(cf["shift_px"]) == set(SCRIPTED)
    saved = json.loads((tmp_path / "pictures.json").read_text())
    assert saved["strips"]["psnr_db"].keys() >= {"decoded true", "teacher-forced", "rollout", "decoded copy-last"}


def test_eval_reports_show_the_pictures_and_export_copies_them(export_with_decoder, synth_dataset, tmp_path):
    from craft_jepa.eval.heldout import EvalConfig
    from craft_jepa.runs.decoder_files import copy_decoder
    from craft_jepa.pipelines.evaluate import evaluate_run

    report, paths = evaluate_run(export_with_decoder, synth_dataset.shard_urls, tmp_path / "eval",
                                 EvalConfig(clips=2, progress=False), None, allow_train_data=True)
    markdown = paths["markdown"].read_text()
    for name in ("rollout.png", "counterfactual.png", "rollout_0.gif", "counterfactual.gif"):
        assert (tmp_path / "eval" / "pictures" / name).is_file() and f"(pictures/{name})" in markdown, name
    assert json.loads(paths["json"].read_text())["pictures"]["strips"]["psnr_db"]["decoded copy-last"] > 0
    export = tmp_path / "export"
    export.mkdir()
    (export_with_decoder / "eval").mkdir(exist_ok=True)
    import shutil

    shutil.copytree(tmp_path / "eval" / "pictures", export_with_decoder / "eval" / "pictures", dirs_exist_ok=True)
    copy_decoder(export_with_decoder, export)
    meta = json.loads((export / "decoder.json").read_text())
    assert meta["pictures"] == {"rollout": "rollout.png", "counterfactual": "counterfactual.png"}
    assert (export / "decoder.safetensors").is_file() and (export / "rollout.png").is_file()
    shutil.rmtree(export_with_decoder / "eval")


def test_eval_with_planning_draws_the_plan_of_its_largest_turn(export_with_decoder, synth_dataset, tmp_path):
    from craft_jepa.eval.heldout import EvalConfig
    from craft_jepa.planning.cem import CEMConfig
    from craft_jepa.pipelines.evaluate import evaluate_run
    from craft_jepa.planning.offline import OfflinePlanConfig

    plan_cfg = OfflinePlanConfig(pairs=3, landscape_points=0, cem_seeds=(0,), cem=CEMConfig(samples=16, top_k=4,
                                                                                            iterations=2))
    report, paths = evaluate_run(export_with_decoder, synth_dataset.shard_urls, tmp_path / "eval",
                                 EvalConfig(clips=3, progress=False), plan_cfg, allow_train_data=True)
    example = report["planning"]["example"]
    plan = report["pictures"]["plan"]
    assert np.isfinite(example["planned_yaw_deg"]) and len(example["planned"]) == plan_cfg.cem.horizon
    with Image.open(tmp_path / "eval" / "pictures" / "plan.png") as im:
        assert im.size == grid_size(1, 4, 32) == tuple(plan["size"])
    assert "(pictures/plan.png)" in paths["markdown"].read_text()
    assert plan["goal"] == "decoded true latent" and np.isfinite(plan["recorded_psnr_to_goal_db"])


def test_a_plan_equal_to_the_recorded_actions_imagines_the_same_end(export_with_decoder, tmp_path):
    from craft_jepa.eval.pictures import plan_strip

    model = WorldModel.from_pretrained(export_with_decoder)
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    z = model.encode(images)  # (2, N, D)
    recorded = torch.zeros(2, model.action_dim)
    recorded[:, 0] = 40.0  # mouse_dx: a turn right
    same = plan_strip(model.run, model.decoder, z[0], z[1], recorded.clone(), recorded, tmp_path / "a.png")
    assert same["psnr_to_goal_db"] == same["recorded_psnr_to_goal_db"]
    other = plan_strip(model.run, model.decoder, z[0], z[1], -recorded, recorded, tmp_path / "b.png")
    assert other["recorded_psnr_to_goal_db"] == same["recorded_psnr_to_goal_db"]
    assert other["start_psnr_to_goal_db"] == same["start_psnr_to_goal_db"]


def test_world_model_decode_and_imagine(export_with_decoder):
    model = WorldModel.from_pretrained(export_with_decoder)
    images = np.random.default_rng(0).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    z = model.encode(images)
    frames = model.decode(z)
    assert frames.shape == (2, 32, 32, 3) and frames.dtype == np.uint8
    # decode is the decoder's own output (no hidden state): the same latents give the same frames
    np.testing.assert_array_equal(frames[1], model.decode(z[1:2])[0])
    actions = np.zeros((3, model.action_dim), dtype=np.float32)
    imagined = model.imagine(images[0], actions)
    assert imagined.shape == (3, 32, 32, 3)
    rolled = model.rollout(z[:1][None], torch.as_tensor(actions)[None])[0]
    np.testing.assert_array_equal(imagined, model.decode(rolled))


def test_a_decoder_for_another_encoder_is_refused(tmp_path):
    from craft_jepa.runs.decoder_files import DecoderMismatchError

    folder = make_tiny_export(tmp_path / "export")
    other = EncoderConfig(name="vit_tiny", img_size=32, init_seed=7)  # other random weights
    save_decoder(folder, TokenDecoder(DecoderConfig(width=16), 96, 2, 32), {"encoder": config_to_dict(other)})
    with pytest.raises(DecoderMismatchError, match="init_seed"):
        WorldModel.from_pretrained(folder).decoder
    save_decoder(folder, TokenDecoder(DecoderConfig(width=16), 96, 4, 64), {"encoder": {}})  # another grid/size
    with pytest.raises(DecoderMismatchError, match="grid_size 4"):
        WorldModel.from_pretrained(folder).decoder


# Counterfactual bar on the toy world model. Measured (2026-12-02, 2-core CPU) on the demo pipeline's
# model stopped at step 505 of 2000 with its decoder (held-out PSNR 19.42 dB vs 14.43 dB for the mean
# frame): no-op was the closest to the start on 12/12 start frames (pixel L1 0.003-0.006, against
# 0.04-0.11 for turns and 0.10-0.20 for looking up); the decoded turns did NOT shift the scenery
# (phase-correlation dx medians -0.00 px left, +0.01 px right; opposite signs on 1/12). Even decoded
# TRUE latents shift only in jumps (0 or +-8 px for recorded turns of 3-12 degrees that move the true
# frames by 3-11 px): the 4x4-token random-weight encoder keeps little sub-patch position, so the
# direction part is an expected failure until the toy encoder / world model carries it.
# Measured again (2026-12-03) over 27 turning held-out clips of the fully trained model (4 frames,
# recorded yaw summed over 3 steps): phase-correlation dx against the recorded yaw correlates
# -0.81 on true frames (0.72 px per degree), -0.16 on decoded true latents with the demo's
# 250-step decoder and -0.44 with a 1000-step one (21.3 dB vs 19.5), but decoded rollouts (of the
# then 2000-step model) under the recorded actions hardly move (median |dx| 0.1-1.0 px, correlation +0.05 to -0.39).
# Measured again (2026-12-03, the demo's 4000-step model and 250-step decoder, 36 held-out clips of which 25
# turn > 3 degrees): dx against the recorded yaw correlates -0.81 on true frames (-0.72 px per degree),
# -0.46 on decoded true latents (-0.23 px/deg) and -0.40 on decoded rollouts under the recorded actions
# (-0.21 px/deg): the rollout carries about as much of the turn as the decoder can show. The scripted turns
# (2.5 / 5 / 7.5 / 10 degrees per step, 3 steps, 12 start frames) move the decoded frame in patch-grid jumps
# (0, +-4, +-8, +-16 px): median dx 0 at 2.5 and 10 degrees, opposite signs on at most 6/12 (at 5 degrees).
# Other shift measures (Gaussian low-pass 2-4 px, plain cross-correlation, only the scenery above the
# hotbar, a direction score from the correlation profile) leave that agreement <= 0.42. What blocks the
# property is the 4x4-token toy encoder (16 px patches): sideways motion lives in its latents in patch-sized
# steps, for the decoder and the predictor alike. At 128 px (8x8 tokens, otherwise the same pipeline, 4000
# steps, 1806 s to train) the property holds: over 36 start frames the turns go opposite ways on 92 % at 5
# degrees/step (median dx +31.9 / -30.0 px) and 69 % at this test's 2 std (9.9 degrees/step, +47.9 / -47.7 px).
# Strict: when the toy model starts to pass, make this a test.
START_FRAMES = 12  # held-out start frames (one per held-out recording)
MIN_SHIFT_PX = 0.5  # median |dx| of the decoded turn after 3 steps, in the 64 px frame
MIN_AGREEMENT = 0.75  # fraction of start frames where the property holds
_COUNTERFACTUALS: dict[str, dict] = {}


def _toy_counterfactuals(root) -> dict:
    key = str(root)
    if key not in _COUNTERFACTUALS:
        from craft_jepa.data.loader import build_val_loader
        from craft_jepa.runs.loading import load_run
        from craft_jepa.eval.pictures import counterfactuals, hold_state
        from craft_jepa.runs.decoder_files import load_run_decoder

        from testkit.runs import toy_decoder

        run_dir, record = toy_decoder(root)
        run = load_run(run_dir, which="latest")
        decoder = load_run_decoder(run)
        heldout = sorted(str(p) for p in (run_dir.parent / "data" / "heldout").rglob("*.tar"))[:START_FRAMES]
        batch = next(iter(build_val_loader(run.clip, heldout, batch_size=START_FRAMES, num_workers=0,
                                           max_clips=START_FRAMES, seed=0)))
        z0 = run.latents(batch["frames"][:, :1].float())[:, 0]  # (K, N, D)
        rows = [counterfactuals(run, decoder, z0[k], steps=3,
                                hold=hold_state(run.action_layout, batch["actions"][k, 0].numpy()))
                for k in range(z0.shape[0])]
        left = np.array([r["shift"]["turn_left"][1] for r in rows])
        right = np.array([r["shift"]["turn_right"][1] for r in rows])
        closest = [min(r["distance"], key=r["distance"].get) for r in rows]
        _COUNTERFACTUALS[key] = {"decoder": record["scores"], "degrees_per_step": rows[0]["degrees_per_step"],
                                 "left": left, "right": right, "closest": closest,
                                 "distance": [r["distance"] for r in rows]}
        print("counterfactual bar:", {k: (v.round(2).tolist() if isinstance(v, np.ndarray) else v)
                                      for k, v in _COUNTERFACTUALS[key].items()})
    return _COUNTERFACTUALS[key]


@pytest.mark.slow
@pytest.mark.timeout(2400)  # builds the session's toy world model (shared with the bar tests) + its decoder
def test_toy_decoder_and_counterfactuals_no_op_stays_closest(tmp_path_factory):
    cf = _toy_counterfactuals(tmp_path_factory.getbasetemp())
    assert cf["decoder"]["heldout"] and cf["decoder"]["margin_db"] >= 2.0, cf["decoder"]  # vs the mean frame
    # No-op changes the decoded frame least; every scripted camera action changes it more than no-op.
    assert np.mean([c == "no_op" for c in cf["closest"]]) >= MIN_AGREEMENT, cf["closest"]
    for name in ("turn_left", "turn_right", "look_up"):
        moved = np.mean([d[name] > 2 * d["no_op"] for d in cf["distance"]])
        assert moved >= MIN_AGREEMENT, (name, cf["distance"])


@pytest.mark.slow
@pytest.mark.xfail(reason="measured: decoded turns of the toy world model do not shift the scenery (dx ~ 0 px "
                          "both ways, patch-grid jumps); see the comment above", strict=True)
def test_toy_decoded_turns_shift_the_scenery_opposite_ways(tmp_path_factory):
    cf = _toy_counterfactuals(tmp_path_factory.getbasetemp())  # shared with the test above: no extra training
    left, right = cf["left"], cf["right"]
    # Turning left (yaw decreasing) slides the synthetic panorama right in the frame (dx > 0), right: left.
    assert np.median(left) >= MIN_SHIFT_PX and np.median(right) <= -MIN_SHIFT_PX, (left, right)
    assert np.mean((left > 0) & (right < 0)) >= MIN_AGREEMENT, (left, right)
