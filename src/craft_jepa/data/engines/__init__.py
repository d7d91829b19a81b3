"""Recorders that play real game engines and write VPT-format segments (optional extra `engine`).

    policy.py            a seeded, engine-independent random player acting in VPT terms
    vizdoom_recorder.py  ViZDoom (Freedoom maps) -> STEM.mp4 + STEM.jsonl + STEM-options.json
"""
