# The GPU-aware autoscaler operator (operators/autoscaler) and its tests (tests/operator).
# Included by the main Makefile, which defines PY. The cluster tests need a Kubernetes API server: this starts the
# crd-apiserver kit with scripts/start-test-apiserver.sh unless RAGPLANE_TEST_KUBECONFIG already names a cluster,
# and stops it afterwards. Without a kit or a cluster, those tests skip and say why.

OPERATOR_TESTS := tests/operator

.PHONY: operator-test
operator-test: ## autoscaler operator: decision and property tests, then the operator against a real API server and broker
	@set -e; \
	if [ -z "$$RAGPLANE_TEST_KUBECONFIG" ]; then \
	  eval "$$(scripts/start-test-apiserver.sh)"; \
	  trap 'scripts/stop-test-apiserver.sh' EXIT; \
	fi; \
	$(PY) -m pytest $(OPERATOR_TESTS)

.PHONY: operator-unit
operator-unit: ## autoscaler operator: the decision logic only (no cluster, no network)
	$(PY) -m pytest -m unit $(OPERATOR_TESTS)
