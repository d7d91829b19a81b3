"""Held-out metrics against baselines (no planning, no drivers: pipelines/evaluate.py composes them).

    heldout.py      EvalConfig; encode held-out clips once, score every metric on them
    metrics.py      latent L1 / cosine per horizon for the model and trivial baselines
    sensitivity.py  how far predictions move when one action feature group changes
    probe.py        inverse-dynamics probe: do predicted futures carry their actions?
    spread.py       seeded bootstrap intervals and ratios
    spatial_probe.py  probes of frozen tokens that see layout: camera from token cross-correlation, patch colours
    overlap.py      refuse evaluation data that the run trained on
    pictures.py     pictures of what the model imagines (strips, counterfactuals, plans), phase shift
    recording_alignment.py  do a recording's frames move with its recorded camera? (image shift vs yaw, by lag)
    droid.py        a DROID world model (Meta's released predictor or a run) against baselines, per action dim
    report.py       report.json, report.md and plots
"""
