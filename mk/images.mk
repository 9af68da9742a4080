# Container images with podman, without a registry or a Docker engine (Dockerfile, scripts/build-images.sh), and
# the deployment check that boots them as the chart's pods (scripts/deploy_check.py). Included by the main Makefile.

IMAGE_TAG ?= dev

.PHONY: images
images: ## build every image from the one Dockerfile with podman (installs podman, runc, debootstrap; base via debootstrap)
	TAG=$(IMAGE_TAG) PY=$(PY) scripts/build-images.sh $(IMAGES)

.PHONY: deploy-check
deploy-check: images helm ## boot the images read-only as the chart's pods (cpu-dev), ingest a document and ask a question
	$(PY) scripts/deploy_check.py --tag $(IMAGE_TAG)
