"""Trained networks on top of the frozen encoder's tokens.

    predictor.py       ACPredictor: tokens (B,T,N,D) + actions (B,T,A) + states (B,T,S) -> next tokens
    attention.py       frame-causal attention with 3-D RoPE and the KV cache path
    kv_cache.py        KVCache for O(H) rollouts
    released.py        Meta's released vjepa2-ac-vitg.pt predictor loaded strictly as released
    warm_start.py      seed a predictor from Meta's released vjepa2-ac-vitg.pt
    mask_predictor.py  V-JEPA's mask-token predictor (pre-training)
    pixel_decoder.py   TokenDecoder: one frame's latents -> RGB; SSIM and PSNR
"""

from craft_jepa.models.kv_cache import KVCache
from craft_jepa.models.predictor import PREDICTOR_PRESETS, ACPredictor, PredictorConfig
from craft_jepa.models.warm_start import WarmStartReport, warm_start_from_meta

__all__ = ["PREDICTOR_PRESETS", "ACPredictor", "KVCache", "PredictorConfig", "WarmStartReport", "warm_start_from_meta"]
