"""craft-jepa: action-conditioned V-JEPA 2 world models for Minecraft (VPT recordings).

Data flows one way; each layer imports only the layers below it (checked by import-linter,
.importlinter; drawn in docs/architecture.md):

    cli/         thin argparse front-ends, one module per sub-command
    pipelines/   compositions: `eval`, `decoder train`, `encode`, `demo`
    api.py       WorldModel: encode / predict / rollout / plan / decode for Python users
    planning/    CEM over VPT actions toward a goal latent
    eval/        metrics against baselines, probes, pictures, reports
    train/       the run config, losses, one step, the loop, objectives
    runs/        the run directory and export: layout, checkpoints, loading, export, model card
    models/      the AC predictor, the mask predictor, the pixel decoder
    encoders/    frozen V-JEPA 2 ViTs: frames -> tokens -> latents
    data/        shards -> clips (video or feature cache); synth, pack, fit-scaler
    vpt/         jsonl lines -> per-step action and state vectors; the action scaler
    hub.py, configuration.py   Hub references; YAML -> typed dataclass configs (no stage)
"""

__version__ = "0.1.0"
