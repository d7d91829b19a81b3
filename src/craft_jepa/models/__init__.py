"""The action-conditioned predictor: tokens (B,T,N,D) + actions (B,T,A) + states (B,T,S) -> next tokens."""

from craft_jepa.models.kv_cache import KVCache
from craft_jepa.models.predictor import PREDICTOR_PRESETS, ACPredictor, PredictorConfig
from craft_jepa.models.warm_start import WarmStartReport, warm_start_from_meta

__all__ = ["PREDICTOR_PRESETS", "ACPredictor", "KVCache", "PredictorConfig", "WarmStartReport", "warm_start_from_meta"]
