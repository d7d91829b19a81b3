"""RunConfig: one typed config for a whole training run, composed of the stage configs.

Loaded with `craft_jepa.configuration.load_config(RunConfig, yaml_path, overrides)`;
the resolved config is written to RUN_DIR/config.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from craft_jepa.configuration import require_range
from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.config import DataConfig
from craft_jepa.encoders import EncoderConfig
from craft_jepa.models import PredictorConfig
from craft_jepa.models.pixel_decoder import DecoderConfig
from craft_jepa.runs.checkpoints import CheckpointConfig
from craft_jepa.train.losses import LossConfig
from craft_jepa.train.objectives.vjepa_config import VJEPAConfig
from craft_jepa.train.optim import OptimConfig
from craft_jepa.train.schedule import ScheduleConfig
from craft_jepa.vpt.layouts import get_action_layout, get_state_layout


@dataclass
class ValidationConfig:
    every: int = 500  # optimizer steps between validations (0: never)
    max_clips: int = 256  # bound per rank: validation cost is fixed and deterministic
    batch_size: int | None = None  # None: data.batch_size
    seed: int = 0  # fixes the window taken from each validation segment

    def __post_init__(self) -> None:
        require_range("every", self.every, at_least=0)
        require_range("max_clips", self.max_clips, at_least=1)
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class LoggingConfig:
    every: int = 10  # optimizer steps between metric rows
    progress_bar: bool = True
    csv: bool = True  # RUN_DIR/metrics.csv
    tensorboard: bool = True  # RUN_DIR/tb/

    def __post_init__(self) -> None:
        require_range("every", self.every, at_least=1)


@dataclass
class RunConfig:
    # ac: the action-conditioned predictor against a frozen encoder (craft-jepa train; sections
    # predictor, loss). vjepa: self-supervised pre-training of the encoder (craft-jepa pretrain;
    # section vjepa; encoder.checkpoint, when set, is the weights to continue from).
    # decoder: a pixel decoder from the frozen encoder's latents to frames (craft-jepa decoder
    # train; section decoder; video data).
    objective: Literal["ac", "vjepa", "decoder"] = "ac"
    run_dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N (auto: cuda:LOCAL_RANK when present)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 on cuda, fp32 on cpu
    compile: bool = False  # torch.compile the predictor + loss
    max_nonfinite_steps: int = 20  # stop after this many skipped (NaN/inf) steps in a row
    clip: ClipConfig = field(default_factory=ClipConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    vjepa: VJEPAConfig = field(default_factory=VJEPAConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def __post_init__(self) -> None:
        if not self.run_dir:
            raise ValueError("run_dir must be a non-empty path")
        require_range("max_nonfinite_steps", self.max_nonfinite_steps, at_least=1)
        if self.data.source in ("video", "droid") and self.encoder.img_size != self.clip.size:
            raise ValueError(
                f"encoder.img_size={self.encoder.img_size} must equal clip.size={self.clip.size}"
            )
        if self.objective == "vjepa":
            self._check_vjepa()
            return
        if self.objective == "decoder":
            if self.data.source != "video":
                raise ValueError("objective=decoder learns to draw frames: it needs data.source=video (pixels), "
                                 "not features (tokens only)")
            return
        if self.loss.auto_steps > self.clip.frames - 1:
            raise ValueError(
                f"loss.auto_steps={self.loss.auto_steps} needs clip.frames >= {self.loss.auto_steps + 1}"
                f" (got {self.clip.frames})"
            )
        self._check_predictor_shapes()

    def _check_vjepa(self) -> None:
        """Pre-training encodes whole clips as tubelets from decoded video."""
        if self.data.source != "video":
            raise ValueError("objective=vjepa trains the encoder: it needs data.source=video, not features")
        tubelet = self.encoder.spec.tubelet_size
        if self.clip.frames % tubelet:
            raise ValueError(f"objective=vjepa: clip.frames={self.clip.frames} must be a multiple of the "
                             f"encoder's tubelet size {tubelet}")

    def _check_predictor_shapes(self) -> None:
        """The predictor's input sizes must match the encoder and the clip layouts."""

        expected = {
            "encoder_dim": (self.encoder.embed_dim, f"encoder {self.encoder.name} width"),
            "grid_size": (self.encoder.grid_size, f"encoder.img_size {self.encoder.img_size} / patch"),
            "action_dim": (get_action_layout(self.clip.action_layout).dim, "clip.action_layout size"),
            "state_dim": (get_state_layout(self.clip.state_layout).dim, "clip.state_layout size"),
        }
        if self.data.source == "features":
            # Feature shards may be pooled to a coarser grid: checked against the shards' own
            # metadata at start-up (data.features.check_feature_shards), not here.
            del expected["grid_size"]
        for name, (value, why) in expected.items():
            if getattr(self.predictor, name) != value:
                raise ValueError(
                    f"predictor.{name}={getattr(self.predictor, name)} but the {why} is {value}"
                )
