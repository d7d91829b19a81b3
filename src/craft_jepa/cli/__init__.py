"""Thin argparse front-ends, one module per `craft-jepa` sub-command (main.py maps the names):
actions, decoder, demo, download, droid_encode, encode, eval, export, fit_scaler, pack, plan, pretrain, push, record,
synth, train. droid_options holds the DROID flags `eval` and `plan` share (not a sub-command).
"""
