"""Recordings on disk -> clips: shards, video decoding, loaders, synthetic and packed data.

    config.py          `data:` of a run config (DataConfig) and resolve_shards
    shards.py          shard specs -> URL lists; the train/val split
    shard_survey.py    what shards hold (segments, lengths), checked before a recipe spends work on them
    shard_split.py     which shard each training consumer (rank x worker) reads next
    video.py           frame-accurate sparse H.264 decoding (PyAV)
    video_augment.py   random resized crops of whole clips (pre-training)
    clips.py           one segment (mp4 + jsonl) -> clips (frames, actions, states); ClipConfig
    carry_buffer.py    the shuffle buffer kept across stream chunks
    loader.py          streaming clip loaders over video shards; make_data_loader (the one DataLoader)
    feature_format.py  feature shards: on-disk layout of pre-encoded clips, which frames go in
    features.py        streaming loaders over feature shards
    sources.py         the loader of `data.source` (video | features), training and validation
    fit_scaler.py      fit the ActionScaler from the jsonl members of shards
    pack.py            raw recordings -> checked WebDataset shards
    vpt_index.py       OpenAI's VPT index files (both relpath forms) and seeded per-version subsets
    http_fetch.py      one resumable, retried HTTP download (.part, Range, atomic rename)
    download.py        `craft-jepa download`: an index's recordings into RAW_DIR, bounded workers, report
    download_dry_run.py  sizes (bytes, hours) of a download selection, before anything is written
    render.py          a tiny procedural Minecraft-like renderer (numpy)
    synth.py           synthetic VPT-format recordings from the renderer
    droid.py           DROID-format robot trajectories (h5 states, mp4 frames, Meta's actions; extra `droid`)
    droid_config.py    DROID settings and the path-list reader (no optional dependency)
    droid_loader.py    training and validation batches from DROID trajectories
    droid_synth.py     synthetic DROID-format trajectories (tests, CPU runs)
    engines/           real-engine footage in VPT format (`craft-jepa record`: ViZDoom), optional extra `engine`
"""
