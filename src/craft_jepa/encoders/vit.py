"""V-JEPA 2 vision transformer, parameter-for-parameter compatible with Meta's released weights.

Module and parameter names follow Meta's layout (``patch_embed.proj``, ``blocks.{i}.attn.qkv``,
``blocks.{i}.mlp.fc1``, ``norm``) so a cleaned Meta state dict loads without renaming. Position
information comes only from 3-D RoPE (see rope.py); there is no learned position table.

The encoder is used per frame (V-JEPA 2-AC): each frame is repeated twice along time to fill one
tubelet and encoded alone (one tubelet, time position 0). Pre-training (train/objectives/vjepa.py)
encodes whole clips with `forward_video`, optionally on a subset of token positions (the context).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from craft_jepa.encoders.init import init_transformer_
from craft_jepa.encoders.rope import apply_rope, grid_positions, rope_tables


@dataclass(frozen=True)
class ViTSpec:
    """Architecture of one encoder size."""

    dim: int
    depth: int
    heads: int
    mlp_hidden: int
    patch_size: int = 16
    tubelet_size: int = 2
    in_chans: int = 3
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.dim % self.heads != 0:
            raise ValueError(f"ViTSpec.dim={self.dim} is not a multiple of heads={self.heads}")
        if self.dim // self.heads < 6:
            raise ValueError(f"ViTSpec: head_dim={self.dim // self.heads} too small for 3-D RoPE")


class PatchGrid:
    """The token grid of one frame, for anything holding an `img_size` and a ViT `spec`
    (the encoder itself and its config)."""

    img_size: int
    spec: ViTSpec

    @property
    def grid_size(self) -> int:
        return self.img_size // self.spec.patch_size

    @property
    def tokens_per_frame(self) -> int:
        return self.grid_size**2


class PatchEmbed3D(nn.Module):
    """Conv3d tokenizer with kernel = stride = (tubelet, patch, patch) (Meta's shape)."""

    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        kernel = (spec.tubelet_size, spec.patch_size, spec.patch_size)
        self.proj = nn.Conv3d(spec.in_chans, spec.dim, kernel_size=kernel, stride=kernel)

    def forward_frames(self, frames: Tensor) -> Tensor:
        """frames (M, C, H, W) -> tokens (M, H/p * W/p, D), each frame repeated to fill one tubelet."""
        # Folding the two temporal kernel slices into one 2-D kernel would halve this (tiny) cost but
        # changes float rounding (~1e-5 after the blocks); the exact Conv3d keeps us bit-identical to
        # the released recipe and to transformers' VJEPA2Model.
        tubelet = self.proj.kernel_size[0]
        video = frames[:, :, None].expand(-1, -1, tubelet, -1, -1)  # (M, C, tubelet, H, W)
        return self.forward_video(video)

    def forward_video(self, video: Tensor) -> Tensor:
        """video (B, C, T, H, W) -> tokens (B, T/tubelet * H/p * W/p, D)."""
        return self.proj(video).flatten(2).transpose(1, 2)


class RoPESelfAttention(nn.Module):
    """Multi-head self-attention with fused qkv (Meta layout) and 3-D RoPE on q and k."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def rotated_qkv(self, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, L, D) -> q, k, v (B, h, L, hd) each, RoPE applied to q and k."""
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, self.head_dim))  # (B, L, 3, h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, L, hd) each
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def merge_heads(self, out: Tensor) -> Tensor:
        """(B, h, L, hd) -> projected (B, L, D)."""
        return self.proj(out.transpose(1, 2).flatten(2))

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        q, k, v = self.rotated_qkv(x, cos, sin)
        return self.merge_heads(F.scaled_dot_product_attention(q, k, v))  # (B, L, D)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block (Meta names: norm1, attn, norm2, mlp)."""

    attention_class: type[RoPESelfAttention] = RoPESelfAttention

    def __init__(self, dim: int, heads: int, mlp_hidden: int, layer_norm_eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attn = self.attention_class(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = MLP(dim, mlp_hidden)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class VisionTransformer(PatchGrid, nn.Module):
    """V-JEPA 2 encoder. ``forward(frames (B,T,C,H,W)) -> tokens (B,T,N,D)`` per frame."""

    def __init__(self, spec: ViTSpec, img_size: int, name: str = "custom") -> None:
        super().__init__()
        if img_size % spec.patch_size != 0:
            raise ValueError(f"img_size={img_size} is not a multiple of patch_size={spec.patch_size}")
        self.spec = spec
        self.name = name
        self.img_size = img_size
        self.embed_dim = spec.dim
        self.patch_embed = PatchEmbed3D(spec)
        self.blocks = nn.ModuleList(
            Block(spec.dim, spec.heads, spec.mlp_hidden, spec.layer_norm_eps) for _ in range(spec.depth)
        )
        self.norm = nn.LayerNorm(spec.dim, eps=spec.layer_norm_eps)
        # Recompute block activations in backward (pre-training a ViT-L/g); no effect without grad.
        self.activation_checkpointing = False

    def reset_parameters(self, generator: torch.Generator | None = None, std: float = 0.02) -> None:
        """Meta's init (encoders/init.py)."""
        init_transformer_(self, self.blocks, std, generator)

    def _run_blocks(self, tokens: Tensor, steps: int, grid_h: int, grid_w: int, keep: Tensor | None = None) -> Tensor:
        """keep: optional (K,) raster indices of the tokens present (all of them when None); each
        kept token is rotated by the RoPE position it has in the full grid, not by its rank."""
        t, r, c = grid_positions(steps, grid_h, grid_w, tokens.device)
        if keep is not None:
            t, r, c = t[keep], r[keep], c[keep]  # (K,) each
        cos, sin = rope_tables(t, r, c, self.spec.dim // self.spec.heads)  # (L, hd) each
        for block in self.blocks:
            if self.activation_checkpointing and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, cos, sin, use_reentrant=False)
            else:
                tokens = block(tokens, cos, sin)
        return self.norm(tokens)

    def forward(self, frames: Tensor) -> Tensor:
        """frames (B, T, C, H, W) -> tokens (B, T, N, D), every frame encoded on its own."""
        if frames.ndim != 5:
            raise ValueError(f"expected frames (B, T, C, H, W), got shape {tuple(frames.shape)}")
        batch, steps, chans, height, width = frames.shape
        patch = self.spec.patch_size
        if height % patch or width % patch:
            raise ValueError(f"frame size {height}x{width} is not a multiple of patch {patch}")
        flat = frames.reshape(batch * steps, chans, height, width)  # (B*T, C, H, W)
        tokens = self.patch_embed.forward_frames(flat.to(self.norm.weight.dtype))  # (B*T, N, D)
        tokens = self._run_blocks(tokens, 1, height // patch, width // patch)
        return tokens.reshape(batch, steps, tokens.shape[1], tokens.shape[2])  # (B, T, N, D)

    def forward_video(self, video: Tensor, keep: Tensor | None = None) -> Tensor:
        """Plain clip encoding as in pre-training: video (B, C, T, H, W) -> (B, T/2 * N, D).

        keep: optional (K,) indices into the (T/2, H/p, W/p) raster of tokens, shared by the batch
        (V-JEPA's context): only those tokens enter the blocks -> (B, K, D). Without it the
        result is bit-identical to before masking existed."""
        if video.ndim != 5:
            raise ValueError(f"expected video (B, C, T, H, W), got shape {tuple(video.shape)}")
        _, _, steps, height, width = video.shape
        patch, tubelet = self.spec.patch_size, self.spec.tubelet_size
        if steps % tubelet or height % patch or width % patch:
            raise ValueError(f"video {steps}x{height}x{width} is not a multiple of tubelet {tubelet} x patch {patch}")
        tokens = self.patch_embed.forward_video(video.to(self.norm.weight.dtype))  # (B, L, D)
        if keep is not None:
            if keep.ndim != 1:
                raise ValueError(f"keep must be (K,) token indices shared by the batch, got {tuple(keep.shape)}")
            tokens = tokens[:, keep]  # (B, K, D): masked tokens never reach attention
        return self._run_blocks(tokens, steps // tubelet, height // patch, width // patch, keep)
