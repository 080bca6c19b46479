"""Developer tools that ship with finsent but are not on the worker's path: the demo and its
sample feed, the benchmarks, the local Kafka broker, and the builders of the shipped reference
data. Nothing under `pipeline/` outside this package imports it (tests/test_architecture.py).
"""
