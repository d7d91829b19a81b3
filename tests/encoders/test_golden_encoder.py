"""Our encoder against Meta's reference outputs (tests/fixtures/meta-golden, encoder.safetensors).

The weights come in through our Meta `.pt` loader (`module.backbone.` prefixes, the unused
`pos_embed` dropped), so the loader is under test too. Each deliberate bug of the fixture README
that touches the encoder must push the comparison past the tolerance.
"""

from __future__ import annotations

import pytest
import torch
from testkit.meta_golden import TOKEN_ATOL, T, frames_of, golden_encoder, inject_bug, load_golden, max_error

from craft_jepa.encoders import FrozenEncoder
from craft_jepa.encoders import normalize_targets


@pytest.fixture(scope="module")
def golden():
    return load_golden("encoder")


def encoder_outputs(encoder, golden) -> dict[str, torch.Tensor]:
    video = golden["input.video"]  # (B, C, T, H, W), Meta's layout
    with torch.no_grad():
        video_tokens = encoder.forward_video(video)  # (B, T/2 * N, D)
    # The training path: the frozen encoder per frame, then the parameter-free layer norm.
    frames = video.permute(0, 2, 1, 3, 4)  # (B, T, C, H, W)
    frame_tokens = normalize_targets(FrozenEncoder(encoder)(frames)).flatten(1, 2)  # (B, T*N, D)
    return {"video_tokens": video_tokens, "frame_tokens": frame_tokens}


def test_video_tokens_and_per_frame_targets_match_meta(tmp_path, golden):
    outputs = encoder_outputs(golden_encoder(tmp_path), golden)
    assert frames_of(outputs["frame_tokens"], T).shape == (2, T, 16, 192)
    for name, ours in outputs.items():
        torch.testing.assert_close(ours, golden[f"output.{name}"], rtol=0, atol=TOKEN_ATOL, msg=name)


def test_fixture_carries_the_unused_pos_embed_our_loader_drops(golden):
    assert "module.backbone.pos_embed" in golden  # so the loader path above really dropped it


@pytest.mark.parametrize("output", ["video_tokens", "frame_tokens"])
@pytest.mark.parametrize("bug", ["layernorm_eps_1e-5", "gelu_tanh", "rope_interleaved"])
def test_deliberate_bugs_fail_the_golden_comparison(tmp_path, golden, monkeypatch, bug, output):
    encoder = golden_encoder(tmp_path)
    inject_bug(bug, monkeypatch, encoder)
    error = max_error(encoder_outputs(encoder, golden)[output], golden[f"output.{output}"])
    assert error > TOKEN_ATOL, f"{bug} moved {output} by only {error:.2e}"


def test_the_entry_read_is_the_one_named_and_said(tmp_path, golden):
    """A Meta file holds two encoders: `target_encoder` (EMA, the default) and `encoder` (what the
    Hugging Face snapshots were converted from). The loader reads the named one and says which."""
    from testkit.meta_golden import ENCODER_SPEC

    from craft_jepa.encoders.checkpoint import load_encoder_weights
    from craft_jepa.encoders.vit import VisionTransformer, ViTSpec

    ema = {k: v for k, v in golden.items() if k.startswith("module.")}
    online = {k: v * 1.01 for k, v in ema.items()}  # a different set of weights, same layout
    torch.save({"encoder": online, "target_encoder": ema}, tmp_path / "two.pt")
    tokens = {}
    for key in ("target_encoder", "encoder"):
        encoder = VisionTransformer(ViTSpec(**ENCODER_SPEC), img_size=64).eval()
        said = load_encoder_weights(encoder, tmp_path / "two.pt", key=key)
        assert f"entry {key!r}" in said
        tokens[key] = encoder_outputs(encoder, golden)["video_tokens"]
    torch.testing.assert_close(tokens["target_encoder"], golden["output.video_tokens"], rtol=0, atol=TOKEN_ATOL)
    assert max_error(tokens["encoder"], golden["output.video_tokens"]) > 100 * TOKEN_ATOL


def test_layer_norm_eps_is_metas_directly(tmp_path):
    """The README's advice: the eps bug moves encoder tokens by only 1.3-1.5e-5, close to the
    tolerance on another CPU, so check the eps itself too (encoder and predictor)."""
    from testkit.meta_golden import golden_predictor

    predictor, _ = golden_predictor(tmp_path)
    norms = [m for model in (golden_encoder(tmp_path), predictor) for m in model.modules()
             if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * 2 + 1 + 2 * 2 + 1 and all(m.eps == 1e-6 for m in norms)
