"""A run directory and an export folder: their layout, and everything that reads or writes them
as files (below train/, which writes runs through these modules; above models/, whose weights
they hold).

    layout.py         every file name of RUN_DIR and EXPORT_DIR (the one home of the layout)
    checkpoints.py    atomic checkpoint writes, retention (latest, every N, keep K, best), loading
    compat.py         may this checkpoint continue this run / do these latents match? (one check)
    loading.py        load_exported / load_run (a run, an export or a Hub id, resolved once) -> LoadedRun
    decoder_files.py  the pixel decoder's files: save, strict load, copy into an export
    export.py         export_run: predictor.safetensors + craft_jepa.json + card + eval report
    model_card.py     the export's README.md (config, training data, eval table, pictures)
    push.py           upload an export folder to the Hugging Face Hub
"""
