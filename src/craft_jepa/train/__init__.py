"""Training: the run config, losses, one step, the loop, distribution; objectives in objectives/.

    config.py        RunConfig (composes every stage's config section), ValidationConfig, LoggingConfig
    losses.py        LossConfig; teacher forcing + rollout losses, copy-last baseline
    optim.py         OptimConfig; AdamW without decay on biases and norms
    schedule.py      ScheduleConfig; warmup-stable-decay learning rate
    step.py          StepRunner: one optimizer step of any objective (AMP, accumulation, clipping, DDP)
    stream.py        TrainStream: the resumable batch stream; resolve_scaler
    loop.py          train(cfg): resume, steps, validation, checkpoints, logging
    run_setup.py     what every rank must agree on, decided on rank 0 (scaler, resume checkpoint)
    distributed.py   torchrun / env:// set-up, NCCL or gloo; autocast dtype
    metrics_log.py   tqdm bar, metrics.csv, TensorBoard
    preempt.py       SIGTERM / SIGUSR1: checkpoint at the next step, then exit for requeue
    rng.py           capture and restore every RNG, weights-only-safe
    objectives/      ac (the world model), vjepa (pre-training), decoder (pixel decoder)
"""
