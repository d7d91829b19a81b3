"""Thin argparse front-ends, one module per `craft-jepa` sub-command (main.py maps the names):
actions, decoder, demo, download, encode, eval, export, fit_scaler, pack, plan, pretrain, push, record,
synth, train.
"""
