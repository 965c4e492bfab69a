"""The judge-quality bench: generated traces with a known verdict and the spans that prove it.

`recorder` records a case's trace through the OpenTelemetry SDK (seeded ids, a simulated clock,
the helpers of `fixtures/generate.py`); `conversations`, `rag`, `loops` and `cascades` build the
four kinds users judge; `generate` lists the cases and writes them, byte for byte the same on every run,
into `cases/` with the manifest `cases/cases.jsonl` that `bench/judge_quality.py` reads.
"""
