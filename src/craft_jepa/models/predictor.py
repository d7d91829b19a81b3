"""The action-conditioned predictor (V-JEPA 2-AC recipe, REFERENCE.md section 4).

Per time step t the sequence holds [a_t, s_t (if state_dim > 0 or state_token), patches_t]; each kind has
its own linear embedding into the predictor width. Attention is frame-causal. Patches get 3-D RoPE
(time, row, column); conditioning tokens only the time band at their step. The output at frame
t's patches predicts frame t+1; conditioning tokens are dropped, then LayerNorm and a linear map
back to the encoder width. Parameter names follow Meta's VisionTransformerPredictorAC so that
`warm_start.py` can load the released `vjepa2-ac-vitg.pt` predictor.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from craft_jepa.encoders.init import init_transformer_
from craft_jepa.encoders.rope import grid_positions, rope_tables
from craft_jepa.encoders.vit import Block
from craft_jepa.models.attention import CausalRoPEAttention, frame_causal_mask
from craft_jepa.models.kv_cache import KVCache

# name -> (depth, width, heads)
PREDICTOR_PRESETS: dict[str, tuple[int, int, int]] = {
    "ac_tiny": (2, 64, 4),
    "ac_small": (4, 192, 4),
    "ac_base": (12, 768, 12),
    "ac_vitl": (24, 1024, 16),  # the DROID AC size, over a ViT-L encoder (encoder_dim 1024)
    "ac_vitg": (24, 1024, 16),  # the released vjepa2-ac-vitg predictor (encoder_dim 1408)
}


@dataclass
class PredictorConfig:
    """depth/width/heads left as None are taken from `preset`."""

    preset: str = "ac_vitl"
    encoder_dim: int = 1024
    grid_size: int = 16  # patches per side of one frame: tokens per frame = grid_size ** 2
    action_dim: int = 38
    state_dim: int = 0
    depth: int | None = None
    width: int | None = None
    heads: int | None = None
    mlp_ratio: float = 4.0
    layer_norm_eps: float = 1e-6
    init_std: float = 0.02
    init_seed: int | None = None  # None: use the global torch RNG
    activation_checkpointing: bool = False
    # Layer-norm the outputs without affine parameters, as the reference recipe does
    # (normalize_reps: true): predictions then live on the same scale as the layer-normed targets,
    # and rollouts feed back tokens like the (normalized) ones the predictor was trained on.
    normalize_outputs: bool = True
    # Predict the change of each patch token (out = z_t + f(...)) instead of z_{t+1} itself. The
    # reference recipe predicts z_{t+1} directly (keep False to warm-start Meta's predictor); small
    # predictors trained briefly learn far faster from the copy-last starting point this gives.
    predict_residual: bool = False
    # Rotary embedding: "meta" reproduces the released code's tiled tables (not a rotation; needed
    # to warm start Meta's predictor), "rotation" the standard one. A predictor trained from
    # scratch learns camera motion far better with "rotation" (docs/world-model.md).
    rope: str = "meta"
    # Keep the released token layout: a state token in every step even when state_dim is 0 (it is
    # then the state embedding's bias alone, i.e. Meta's token for zero states). The released
    # predictor always has 2 conditioning tokens per step; its blocks never saw a 1-token layout.
    state_token: bool = False
    # Meta AC predictor .pt (e.g. vjepa2-ac-vitg.pt) loaded into a FRESH run's predictor at start-up
    # (models/warm_start.py; a resumed run keeps its checkpoint's weights). None: reference init.
    warm_start: str | None = None

    def __post_init__(self) -> None:
        if self.preset not in PREDICTOR_PRESETS:
            raise ValueError(f"PredictorConfig.preset={self.preset!r} unknown; known: {sorted(PREDICTOR_PRESETS)}")
        depth, width, heads = PREDICTOR_PRESETS[self.preset]
        self.depth = depth if self.depth is None else self.depth
        self.width = width if self.width is None else self.width
        self.heads = heads if self.heads is None else self.heads
        for field in ("encoder_dim", "grid_size", "action_dim", "depth", "width", "heads"):
            if getattr(self, field) <= 0:
                raise ValueError(f"PredictorConfig.{field}={getattr(self, field)} must be positive")
        if self.state_dim < 0:
            raise ValueError(f"PredictorConfig.state_dim={self.state_dim} must be >= 0")
        if self.width % self.heads:
            raise ValueError(f"PredictorConfig.width={self.width} is not a multiple of heads={self.heads}")
        if self.width // self.heads < 6:
            raise ValueError(f"PredictorConfig: head size {self.width // self.heads} is too small for 3-D RoPE")
        if self.rope not in ("meta", "rotation"):
            raise ValueError(f"PredictorConfig.rope={self.rope!r} must be 'meta' or 'rotation'")
        if self.mlp_ratio <= 0:
            raise ValueError(f"PredictorConfig.mlp_ratio={self.mlp_ratio} must be positive")

    @property
    def tokens_per_frame(self) -> int:
        return self.grid_size**2

    @property
    def has_state_token(self) -> bool:
        return self.state_dim > 0 or self.state_token

    @property
    def cond_tokens(self) -> int:
        return 1 + self.has_state_token


class ACBlock(Block):
    """The encoder's pre-LN block with frame-causal RoPE attention and an optional KV cache."""

    attention_class = CausalRoPEAttention

    def __init__(self, config: PredictorConfig) -> None:
        super().__init__(config.width, config.heads, int(config.width * config.mlp_ratio), config.layer_norm_eps)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None,  # type: ignore[override]
                cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.norm1(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.norm2(x))


class ACPredictor(nn.Module):
    def __init__(self, config: PredictorConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.predictor_embed = nn.Linear(config.encoder_dim, width)
        self.action_encoder = nn.Linear(config.action_dim, width)
        self.state_encoder = None
        if config.has_state_token:
            # With state_token and state_dim 0 this is Linear(0, width): its output is its bias.
            with warnings.catch_warnings():  # torch warns that initializing its empty weight is a no-op
                warnings.simplefilter("ignore", UserWarning)
                self.state_encoder = nn.Linear(config.state_dim, width)
        self.predictor_blocks = nn.ModuleList(ACBlock(config) for _ in range(config.depth))
        self.predictor_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.predictor_proj = nn.Linear(width, config.encoder_dim)
        generator = None if config.init_seed is None else torch.Generator().manual_seed(config.init_seed)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Meta's init (encoders/init.py) with `init_std`."""
        init_transformer_(self, self.predictor_blocks, self.config.init_std, generator)

    def new_cache(self) -> KVCache:
        return KVCache(self.config.depth, self.config.cond_tokens + self.config.tokens_per_frame)

    # ---- core ---------------------------------------------------------------------------------

    def _rope(self, first_step: int, steps: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """cos/sin (steps*K, head_dim) for [cond tokens, patches] of each step."""
        cfg = self.config
        c, n = cfg.cond_tokens, cfg.tokens_per_frame
        t, r, col = grid_positions(steps, cfg.grid_size, cfg.grid_size, device, first_step)  # (steps*N,)
        cond_t = torch.arange(first_step, first_step + steps, device=device).repeat_interleave(c)  # (steps*c,)
        zeros = torch.zeros_like(cond_t)
        # Interleave per step: [c cond positions, N patch positions].
        time = torch.cat([cond_t.view(steps, c), t.view(steps, n)], dim=1).flatten()
        rows = torch.cat([zeros.view(steps, c), r.view(steps, n)], dim=1).flatten()
        cols = torch.cat([zeros.view(steps, c), col.view(steps, n)], dim=1).flatten()
        spatial = torch.cat([torch.zeros(steps, c, dtype=torch.bool, device=device),
                             torch.ones(steps, n, dtype=torch.bool, device=device)], dim=1).flatten()
        return rope_tables(time, rows, cols, cfg.width // cfg.heads, spatial=spatial,
                           rotation=cfg.rope == "rotation")

    def _check_inputs(self, tokens: Tensor, actions: Tensor, states: Tensor | None) -> None:
        cfg = self.config
        if tokens.ndim != 4 or tokens.shape[2:] != (cfg.tokens_per_frame, cfg.encoder_dim):
            raise ValueError(f"tokens must be (B, T, {cfg.tokens_per_frame}, {cfg.encoder_dim}), got {tuple(tokens.shape)}")
        if actions.ndim != 3 or actions.shape[2] != cfg.action_dim or actions.shape[:2] != tokens.shape[:2]:
            raise ValueError(f"actions must be (B, T, {cfg.action_dim}) = {tuple(tokens.shape[:2])} + ({cfg.action_dim},), "
                             f"got {tuple(actions.shape)}")
        if cfg.state_dim > 0:
            if states is None or states.shape != (*tokens.shape[:2], cfg.state_dim):
                got = None if states is None else tuple(states.shape)
                raise ValueError(f"states must be (B, T, {cfg.state_dim}), got {got}")
        elif states is not None and states.shape[-1] != 0:
            raise ValueError(f"state_dim is 0 but states of shape {tuple(states.shape)} were given")

    def attention_mask(self, steps: int, past: int, per_step: int, device: torch.device) -> Tensor | None:
        """bool mask (steps*K, (past+steps)*K) for the actual length, cached; None if nothing is masked."""
        return frame_causal_mask(steps, past, per_step, device)

    def forward_steps(self, tokens: Tensor, actions: Tensor, states: Tensor | None = None,
                      cache: KVCache | None = None) -> Tensor:
        """Run n new steps (after `cache.steps` cached ones, if a cache is given) -> (B, n, N, D).

        tokens (B, n, N, D_enc), actions (B, n, A), states (B, n, S) or None. With a cache, the new
        steps' keys/values are appended to it and their positions continue after the cached steps.
        """
        self._check_inputs(tokens, actions, states)
        cfg = self.config
        batch, steps = tokens.shape[:2]
        cond = [self.action_encoder(actions)[:, :, None]]  # (B, n, 1, W)
        if self.state_encoder is not None:
            if states is None:  # state_token without a state layout: an empty state per step
                states = tokens.new_zeros(batch, steps, 0)  # (B, n, 0)
            cond.append(self.state_encoder(states)[:, :, None])  # (B, n, 1, W)
        x = torch.cat([*cond, self.predictor_embed(tokens)], dim=2)  # (B, n, K, W)
        per_step = x.shape[2]
        x = x.flatten(1, 2)  # (B, n*K, W)
        past = 0 if cache is None else cache.steps
        cos, sin = self._rope(past, steps, x.device)
        mask = self.attention_mask(steps, past, per_step, x.device)
        # Checkpointing recomputes blocks in backward, which must not append to a cache twice.
        use_checkpoint = cfg.activation_checkpointing and self.training and torch.is_grad_enabled() and cache is None
        for layer, block in enumerate(self.predictor_blocks):
            if use_checkpoint:
                x = checkpoint(block, x, cos, sin, mask, use_reentrant=False)
            else:
                x = block(x, cos, sin, mask, cache, layer)
        if cache is not None:
            cache.steps += steps
        x = x.view(batch, steps, per_step, cfg.width)[:, :, cfg.cond_tokens:]  # (B, n, N, W): drop cond tokens
        out = self.predictor_proj(self.predictor_norm(x))  # (B, n, N, D_enc)
        if cfg.predict_residual:
            out = out + tokens
        return F.layer_norm(out, out.shape[-1:]) if cfg.normalize_outputs else out

    def forward(self, tokens: Tensor, actions: Tensor, states: Tensor | None = None) -> Tensor:
        """Teacher forcing: tokens (B,T,N,D), actions (B,T,A), states (B,T,S) -> (B,T,N,D); out[:, t] predicts frame t+1."""
        return self.forward_steps(tokens, actions, states, cache=None)

    # ---- rollouts -----------------------------------------------------------------------------

    def rollout(self, context: Tensor, actions: Tensor, states: Tensor | None = None, steps: int = 1,
                cache: KVCache | None = None) -> Tensor:
        """Autoregressive prediction of `steps` frames after the context -> (B, steps, N, D).

        context (B, T0, N, D); actions (B, T0+steps-1, A) and states (B, T0+steps-1, S) or None,
        indexed from the first context frame. Each step reuses cached keys/values of all earlier
        steps, so the rollout costs O(steps) frame passes. `cache` may hold steps processed before
        `context` (e.g. a batch-1 history expanded with `cache.expand(B)`); it is extended in place.
        A batch-1 context is broadcast to the batch of `actions`. Gradients flow unless under no_grad.
        """
        batch, first = actions.shape[0], context.shape[1]
        if steps < 1 or actions.shape[1] < first + steps - 1:
            raise ValueError(f"rollout of {steps} steps after {first} context frames needs actions of length "
                             f">= {first + steps - 1}, got {actions.shape[1]}")
        context = context.expand(batch, -1, -1, -1) if context.shape[0] == 1 else context
        if states is not None and states.shape[0] == 1:
            states = states.expand(batch, -1, -1)
        cache = self.new_cache() if cache is None else cache

        def states_at(start: int, stop: int) -> Tensor | None:
            return None if states is None else states[:, start:stop]

        prediction = self.forward_steps(context, actions[:, :first], states_at(0, first), cache)[:, -1:]
        predictions = [prediction]  # each (B, 1, N, D)
        for t in range(first, first + steps - 1):
            prediction = self.forward_steps(prediction, actions[:, t:t + 1], states_at(t, t + 1), cache)
            predictions.append(prediction)
        return torch.cat(predictions, dim=1)

    def rollout_uncached(self, context: Tensor, actions: Tensor, states: Tensor | None = None,
                         steps: int = 1) -> Tensor:
        """Reference rollout that re-runs the whole sequence every step (O(steps^2)); for tests/benchmarks."""
        batch, first = actions.shape[0], context.shape[1]
        sequence = context.expand(batch, -1, -1, -1) if context.shape[0] == 1 else context
        if states is not None and states.shape[0] == 1:
            states = states.expand(batch, -1, -1)
        predictions = []
        for t in range(first, first + steps):
            step_states = None if states is None else states[:, :t]
            prediction = self.forward(sequence, actions[:, :t], step_states)[:, -1:]
            predictions.append(prediction)
            sequence = torch.cat([sequence, prediction], dim=1)
        return torch.cat(predictions, dim=1)
