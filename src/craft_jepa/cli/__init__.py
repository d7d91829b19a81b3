"""Thin argparse front-ends, one module per `craft-jepa` sub-command (main.py maps the names):
actions, decoder, demo, download, droid_encode, droid_eval, droid_plan, encode, eval, export, fit_scaler, pack, plan, pretrain, push, record,
synth, train.
"""
