"""Planners over VPT actions toward a goal latent (the compositions live in pipelines/).

    action_space.py  the VPT action space as a CEM sampling distribution (raw <-> scaled)
    cem.py           batched cross-entropy method over action sequences
    objectives.py    planning energies: distance of predicted latents to the goal
    droid.py         CEM over DROID's 7-D end-effector action as Meta's planning notebook does it
    droid_trajectory.py  start/goal frames and poses of a recorded DROID trajectory to plan on
    offline.py       offline planning between recorded frames, scored against the recorded actions
    droid_offline.py the same on held-out DROID clips: planned vs recorded end-effector motion
"""
