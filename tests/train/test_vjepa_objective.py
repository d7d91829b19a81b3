"""The V-JEPA objective on hand-made clips: loss on masked tokens only, EMA, checkpoint layout."""

from __future__ import annotations

import pytest
import torch

from craft_jepa.encoders import build_encoder
from craft_jepa.models.mask_predictor import MaskPredictorConfig, MaskTokenPredictor
from craft_jepa.train.distributed import DistInfo
from craft_jepa.train.objectives.vjepa import VJEPAConfig, VJEPAObjective, ema_momentum, ema_update
from craft_jepa.train.optim import OptimConfig
from craft_jepa.train.schedule import ScheduleConfig
from craft_jepa.train.step import StepRunner


def make_objective(ema=(0.9, 1.0), total_steps=10) -> VJEPAObjective:
    torch.manual_seed(0)
    cfg = VJEPAConfig(predictor=MaskPredictorConfig(depth=1, width=48, heads=2), ema=ema)
    encoder = build_encoder("vit_tiny", img_size=64, init_seed=0)
    predictor = MaskTokenPredictor(cfg.predictor, encoder.embed_dim)
    return VJEPAObjective(encoder, predictor, cfg, frames=4, total_steps=total_steps, seed=0, rank=0,
                          device=torch.device("cpu"))


def batch(n=2, seed=0) -> dict:
    return {"frames": torch.randn(n, 4, 3, 64, 64, generator=torch.Generator().manual_seed(seed))}  # (B, T, 3, H, W)


def test_prepare_shares_one_mask_per_generator_across_the_batch():
    a, b = make_objective(), make_objective()
    small, big = a.prepare(batch(2)), b.prepare(batch(5, seed=1))
    assert len(small) == 2 + 2 * 2  # video, targets, (context, target) per generator
    for x, y in zip(small[2:], big[2:]):
        assert x.ndim == 1 and torch.equal(x, y)  # index vectors: the same for every clip, any batch
    video, targets = small[:2]
    assert video.shape == (2, 3, 4, 64, 64) and targets.shape == (2, 32, 96)
    torch.testing.assert_close(targets.mean(-1), torch.zeros(2, 32), atol=1e-5, rtol=0)  # layer-normed
    assert a.draws == 1 and not torch.equal(a.prepare(batch(2))[3], small[3])  # next draw, next mask


@torch.no_grad()
def test_loss_reads_targets_at_masked_positions_only():
    objective = make_objective()
    video, targets, *masks = objective.prepare(batch())
    base = objective.module(video, targets, *masks)["loss"]
    context_anywhere = torch.ones(targets.shape[1], dtype=torch.bool)
    for target_idx in masks[1::2]:
        context_anywhere[target_idx] = False  # positions no generator predicts
    assert context_anywhere.any()
    changed = targets.clone()
    changed[:, context_anywhere] += 10.0
    assert torch.equal(objective.module(video, changed, *masks)["loss"], base)
    changed = targets.clone()
    changed[:, masks[1][:1]] += 10.0  # one masked position of generator 0
    assert objective.module(video, changed, *masks)["loss"] > base + 1e-3


def test_ema_update_matches_a_hand_computed_one():
    target, online = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in target.parameters()]
    ema_update(target, online, 0.9)
    for new, old, o in zip(target.parameters(), before, online.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * o.detach(), rtol=0, atol=1e-7)
    assert ema_momentum(VJEPAConfig(ema=(0.9, 1.0)), 5, 10) == pytest.approx(0.95)
    assert ema_momentum(VJEPAConfig(ema=(0.9, 1.0)), 20, 10) == pytest.approx(1.0)


def test_a_training_step_moves_the_target_by_the_scheduled_momentum():
    objective = make_objective(ema=(0.9, 1.0), total_steps=10)
    runner = StepRunner(objective, OptimConfig(lr=1e-2), ScheduleConfig(total_steps=10, warmup_steps=0,
                                      decay_steps=0), DistInfo(device=torch.device("cpu")), precision="fp32")
    old_target = {k: v.clone() for k, v in objective.target_encoder.state_dict().items()}
    old_online = {k: v.clone() for k, v in objective.encoder.state_dict().items()}
    result = runner.train_step([batch()], step=0)
    assert not result.skipped and result.clips == 2 and set(result.losses) >= {"loss", "mean_token", "loss_mask1"}
    m = 0.9 + 0.1 * 1 / 10  # after optimizer step 1
    online = objective.encoder.state_dict()
    for k, v in objective.target_encoder.state_dict().items():
        assert not torch.equal(online[k], old_online[k]) or k.endswith("bias")  # the encoder trained
        torch.testing.assert_close(v, m * old_target[k] + (1 - m) * online[k], rtol=0, atol=1e-6)
    assert all(not p.requires_grad for p in objective.target_encoder.parameters())
    trained = {id(p) for g in runner.optimizer.param_groups for p in g["params"]}
    assert not trained & {id(p) for p in objective.target_encoder.parameters()}  # never in the optimizer


def test_checkpoint_entries_use_metas_release_layout_and_load_strictly():
    objective = make_objective()
    state = objective.state_dict()
    assert all(k.startswith("module.backbone.") for key in ("encoder", "target_encoder", "predictor")
               for k in state[key])
    assert "module.backbone.blocks.0.attn.qkv.weight" in state["target_encoder"]
    assert "module.backbone.predictor_embed.weight" in state["predictor"]
    other = make_objective()
    other.draws = 5
    other.load_state_dict(state)
    assert other.draws == 0
    broken = dict(state, predictor={k: v for k, v in state["predictor"].items() if "mask_tokens.1" not in k})
    with pytest.raises(RuntimeError, match="missing key.*mask_tokens.1"):
        other.load_state_dict(broken)


def test_validation_masks_are_fixed_and_leave_the_training_counter_alone():
    objective = make_objective()
    with objective.validating():
        first = objective.prepare(batch())
    with objective.validating():
        again = objective.prepare(batch())
    assert all(torch.equal(x, y) for x, y in zip(first, again)) and objective.draws == 0
    assert not torch.equal(first[0], objective.prepare(batch())[0])  # training crops the clips


def test_mask_token_count_must_match_the_generators():
    with pytest.raises(ValueError, match="num_mask_tokens"):
        VJEPAConfig(predictor=MaskPredictorConfig(num_mask_tokens=3))


def _meta_file(path, source: VJEPAObjective, with_predictor=True, predictor_state=None):
    state = source.state_dict()
    blob = {"encoder": dict(state["encoder"], **{"module.backbone.pos_embed": torch.zeros(1, 32, 96)}),
            "target_encoder": state["target_encoder"], "opt": {}, "epoch": 3}
    if with_predictor:
        blob["predictor"] = predictor_state if predictor_state is not None else state["predictor"]
    torch.save(blob, path)
    return state


def test_continued_pretraining_loads_a_meta_file_strictly(tmp_path):
    from craft_jepa.train.objectives.vjepa_init import load_pretrained

    source = make_objective()
    with torch.no_grad():
        for p in list(source.encoder.parameters()) + list(source.predictor.parameters()):
            p.add_(0.5)  # differs from a fresh objective's init everywhere
    state = _meta_file(tmp_path / "vitx.pt", source)
    fresh = make_objective()
    lines = load_pretrained(fresh, str(tmp_path / "vitx.pt"))  # pos_embed dropped on purpose, the rest strict
    assert any("predictor <- " in line for line in lines)
    for entry, module in (("encoder", fresh.encoder), ("target_encoder", fresh.target_encoder),
                          ("predictor", fresh.predictor)):
        for k, v in module.state_dict().items():
            assert torch.equal(v, state[entry][f"module.backbone.{k}"]), (entry, k)

    _meta_file(tmp_path / "nopred.pt", source, with_predictor=False)
    other = make_objective()
    init = {k: v.clone() for k, v in other.predictor.state_dict().items()}
    assert "no predictor entry" in load_pretrained(other, str(tmp_path / "nopred.pt"))[-1]
    assert all(torch.equal(init[k], v) for k, v in other.predictor.state_dict().items())

    bad = {k: v for k, v in state["predictor"].items() if "predictor_blocks.0.mlp" not in k}
    _meta_file(tmp_path / "bad.pt", source, predictor_state=bad)
    with pytest.raises(RuntimeError, match=r"(?s)missing key.*predictor_blocks\.0\.mlp.*load_predictor=false"):
        load_pretrained(make_objective(), str(tmp_path / "bad.pt"))


def test_continued_pretraining_from_one_set_of_safetensors_weights(tmp_path):
    from safetensors.torch import save_file

    from craft_jepa.train.objectives.vjepa_init import load_pretrained

    source = make_objective()
    with torch.no_grad():
        for p in source.encoder.parameters():
            p.mul_(1.5)
    save_file({f"module.backbone.{k}": v.contiguous() for k, v in source.encoder.state_dict().items()},
              str(tmp_path / "enc.safetensors"))
    fresh = make_objective()
    load_pretrained(fresh, str(tmp_path / "enc.safetensors"))
    for k, v in source.encoder.state_dict().items():
        assert torch.equal(fresh.encoder.state_dict()[k], v) and torch.equal(fresh.target_encoder.state_dict()[k], v)


def test_continued_pretraining_from_a_hugging_face_snapshot(tmp_path):
    transformers = pytest.importorskip("transformers")
    from craft_jepa.encoders import load_encoder_weights
    from craft_jepa.train.objectives.vjepa_init import load_pretrained

    config = transformers.VJEPA2Config(patch_size=16, crop_size=64, frames_per_clip=2, tubelet_size=2, hidden_size=96,
                                       num_attention_heads=3, num_hidden_layers=2, mlp_ratio=4.0, pred_hidden_size=48,
                                       pred_num_attention_heads=3, pred_num_hidden_layers=1, num_pooler_layers=1)
    torch.manual_seed(0)
    transformers.VJEPA2Model(config).save_pretrained(tmp_path / "snapshot")
    expected = build_encoder("vit_tiny", img_size=64, init_seed=1)
    load_encoder_weights(expected, tmp_path / "snapshot")
    fresh = make_objective()
    predictor_before = {k: v.clone() for k, v in fresh.predictor.state_dict().items()}
    lines = load_pretrained(fresh, str(tmp_path / "snapshot"))
    assert "predictor freshly initialised" in lines[-1]
    for k, v in expected.state_dict().items():
        assert torch.equal(fresh.encoder.state_dict()[k], v) and torch.equal(fresh.target_encoder.state_dict()[k], v)
    assert all(torch.equal(predictor_before[k], v) for k, v in fresh.predictor.state_dict().items())
