"""Context encoding on a subset of tokens (V-JEPA): masked pixels cannot reach the context."""

from __future__ import annotations

import torch

from craft_jepa.encoders import build_encoder
from craft_jepa.train.objectives.masks import TokenGrid, mask_generator, recipe_masks, sample_mask

GRID = TokenGrid(2, 4, 4)  # 4 frames / tubelet 2, 64 px / patch 16


def _setup():
    torch.manual_seed(0)
    encoder = build_encoder("vit_tiny", img_size=64, init_seed=3).eval()
    video = torch.randn(2, 3, 4, 64, 64, generator=torch.Generator().manual_seed(4))  # (B, C, T, H, W)
    context, target = sample_mask(GRID, recipe_masks()[0], mask_generator(0, 0, 1, 0))
    return encoder, video, context, target


def _scramble(video: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """New pixels in every tubelet x patch of the target tokens."""
    out = video.clone()
    noise = torch.randn(video.shape, generator=torch.Generator().manual_seed(9)) * 5
    for index in target.tolist():
        t, rest = divmod(index, GRID.height * GRID.width)
        r, c = divmod(rest, GRID.width)
        box = (slice(None), slice(None), slice(2 * t, 2 * t + 2), slice(16 * r, 16 * r + 16), slice(16 * c, 16 * c + 16))
        out[box] = noise[box]
    return out


@torch.no_grad()
def test_changing_masked_pixels_changes_nothing_the_context_encoder_outputs():
    encoder, video, context, target = _setup()
    changed = _scramble(video, target)
    ours = encoder.forward_video(video, keep=context)  # (B, K, D)
    assert ours.shape == (2, len(context), encoder.embed_dim)
    assert torch.equal(ours, encoder.forward_video(changed, keep=context))
    # The same change does reach the context tokens of a full-clip encoding (attention mixes them).
    full, full_changed = encoder.forward_video(video), encoder.forward_video(changed)
    assert (full[:, context] - full_changed[:, context]).abs().max() > 1e-2


@torch.no_grad()
def test_keeping_every_token_is_the_plain_clip_encoding():
    encoder, video, _, _ = _setup()
    assert torch.equal(encoder.forward_video(video, keep=torch.arange(GRID.size)), encoder.forward_video(video))


@torch.no_grad()
def test_kept_tokens_keep_their_grid_positions():
    encoder, video, context, _ = _setup()
    perm = torch.randperm(len(context), generator=torch.Generator().manual_seed(0))
    ours = encoder.forward_video(video, keep=context)
    permuted = encoder.forward_video(video, keep=context[perm])
    # Equivariant: token i keeps its own RoPE position wherever it sits in the sequence.
    torch.testing.assert_close(permuted, ours[:, perm], rtol=0, atol=1e-5)
    # And the positions are the grid's, not 0..K-1: the first K grid positions give other outputs.
    tokens = encoder.patch_embed.forward_video(video)[:, context]
    by_rank = encoder._run_blocks(tokens, GRID.steps, GRID.height, GRID.width, keep=torch.arange(len(context)))
    assert (by_rank - ours).abs().max() > 1e-3
