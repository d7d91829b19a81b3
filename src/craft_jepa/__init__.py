"""craft-jepa: action-conditioned V-JEPA 2 world models for Minecraft (VPT recordings).

Data flows one way, and lower layers never import higher ones:

    vpt/        jsonl lines -> per-step action and state vectors, the action scaler
    data/       mp4 + jsonl in WebDataset shards -> clips (frames, actions, states); synth, pack
    encoders/   frozen V-JEPA 2 ViTs: frames -> tokens
    models/     the action-conditioned predictor: tokens + actions -> next tokens
    train/      losses, the loop, checkpoints, distribution
    eval/       metrics against baselines, probes, reports
    planning/   CEM over VPT actions toward a goal frame
    cli/        thin argparse front-ends over the above
"""

__version__ = "0.1.0"
