"""Shared test helpers, imported as `testkit.*` (tests/ is on sys.path through tests/conftest.py).

    runs.py           tiny exports and the demo's trained toy world model (built once per session)
    analytic.py       a linear world model whose right answers are known (metrics, CEM)
    train_configs.py  tiny RunConfig trees for loop / CLI tests
    predictors.py     tiny AC predictors and batches
    meta_golden.py    Meta's golden encoder / predictor numbers (tests/fixtures/meta-golden)
    hubcache.py       a Hugging Face cache laid out as huggingface_hub writes it (offline Hub tests)
    fault_server.py   an HTTP server on 127.0.0.1 with injected faults (download tests)
"""
