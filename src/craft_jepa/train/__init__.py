"""Training: typed run config, losses, the loop, checkpoints, DDP, export.

    config.py       RunConfig (composes ClipConfig, EncoderConfig, PredictorConfig, DataConfig, ...)
    data.py         DataConfig, shard lists, the resumable TrainStream, the action scaler
    losses.py       teacher forcing + rollout losses, copy-last baseline
    step.py         StepRunner: one optimizer step (AMP, accumulation, clipping, DDP)
    loop.py         train(cfg): resume, steps, validation, checkpoints, logging
    checkpoint.py   atomic checkpoints, retention, strict loading
    schedule.py     warmup-stable-decay learning rate
    optim.py        AdamW without decay on biases and norms
    distributed.py  torchrun / env:// set-up, NCCL or gloo
    metrics_log.py  tqdm bar, metrics.csv, TensorBoard
    export.py       safetensors + craft_jepa.json; load_exported(run_or_export_dir, which)
"""
