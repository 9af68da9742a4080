"""Helpers shared by the test suites: gRPC servers in-process or as processes, a Kafka topic reader, the fake
Kubernetes API and the real API server kit of the operator tests, the chart and ingest test helpers.

``pytest.ini`` puts ``tests/`` on the import path, so test modules import these as ``support.<module>``.
"""
