"""The benchmark suite behind `jan-models bench` / `make bench`.

It measures the design (answers from projections, over NATS) side by side with the way
jan-server built it (list everything from the Kubernetes API on every request) and with
the floors (a bare FastAPI endpoint, a raw NATS round trip), all on kubesim. Figures are
printed as a table and written as JSON under `bench/results/`. Benchmarks are a suite
you run, never timed tests.

`api_latency`, `deployer_throughput` and `kubesim_bench` are narrower benchmarks that run
on their own (`python -m jan_models.bench.<name> --help`) and print their figures.
"""
