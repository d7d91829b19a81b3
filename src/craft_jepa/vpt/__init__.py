"""VPT recordings as numbers: jsonl lines -> ticks -> per-step action and state vectors.

    jsonl.py          parse contractor jsonl into TickRecords, bad lines counted, never a crash
    actions.py        VPT's fixes (hotbar injection, stuck attack) and per-step aggregation at any fps
    layouts.py        named action / state layouts: StepActions and ticks -> float32 vectors
    action_groups.py  the action vocabulary: feature groups (camera, movement, hotbar, ...) and camera units
    scaler.py         ActionScaler: standardize the continuous dims; streaming fit; JSON
"""
