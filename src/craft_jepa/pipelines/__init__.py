"""Compositions at the top: each drives the parts below (data, encoders, train, eval, planning)
for one product step. Nothing below imports them.

    evaluate.py          `craft-jepa eval`: held-out metrics, offline planning, pictures, report
    droid.py             `craft-jepa eval` / `plan` on a DROID model (Meta's released predictor or a run)
    decoder_training.py  `craft-jepa decoder train`: the decoder objective on the shared loop, scored
    encode_features.py   `craft-jepa encode`: the feature cache (frozen-encoder tokens in shards)
    encode_droid.py      `craft-jepa droid-encode`: the feature cache of DROID trajectories
    demo.py              `craft-jepa demo`: the whole pipeline at toy size
    demo_pictures.py     the demo's decoder and pictures step
"""
