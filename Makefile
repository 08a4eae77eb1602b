# govops developer tasks. `make demo` on a fresh machine sets everything up and runs the main job
# against the built-in lab; `make test` runs the test suite (what CI runs).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
LAB_DIR ?= .govops-lab
LAB_DEVICES ?= 2297

.PHONY: dev deps setup test test-unit test-integration lint docs docs-serve bench demo lab-up lab-down clean previews fuzz

# Everything the tests need on a fresh machine: apt packages, govops, the lab's own dependencies
# (the OpenStack venv among them). Done once; `rm $(SETUP_STAMP)` or `make setup -B` redoes it.
SETUP_STAMP := $(LAB_DIR)/.setup-done

deps:
	@# policy-rc.d 101 keeps apt from starting the packages' own services (sshd on :22, snmpd, …):
	@# the lab and the tests start private instances on loopback themselves.
	@if [ "$$(id -u)" = 0 ]; then \
	  made_policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    snmpd snmp prometheus mariadb-server rabbitmq-server postgresql iproute2 openssh-server redis-server \
	    fonts-noto-cjk poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 chromium; rc=$$?; \
	  if [ -n "$$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc; \
	fi

dev:
	$(PIP) install -q --upgrade "pip>=24" "setuptools>=75"
	$(PIP) install -q -e ".[lab,dev,postgres,docs,reports,celery]" --config-settings editable_mode=strict

$(SETUP_STAMP):
	$(MAKE) deps dev
	@# --no-snapshot: the test suite makes the seeded-cloud snapshot of its own (smaller) cloud lab
	@# the first time it needs it; `govops lab install --cloud` makes the full-size one.
	govops lab install --all --no-snapshot --dir $(LAB_DIR)
	touch $@

setup: $(SETUP_STAMP)

test: $(SETUP_STAMP)
	$(PYTHON) -m pytest -q --durations=25 tests

test-unit:
	$(PYTHON) -m pytest -q tests/unit

test-integration:
	$(PYTHON) -m pytest -q tests/integration

# The robustness suite with many more generated inputs than CI runs (docs/reference/robustness.md).
FUZZ_EXAMPLES ?= 2000
fuzz:
	GOVOPS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) GOVOPS_FUZZ_REPORT=$${GOVOPS_FUZZ_REPORT:-fuzz-report.json} \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/unit/test_fuzz_inputs.py

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	@# the import contracts in pyproject.toml ([tool.importlinter]): docs/design/layers.md
	$(PYTHON) -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
	$(PYTHON) tools/gen_cli_docs.py --check
	$(MKDOCS) build --strict --quiet --site-dir build/site

# The docs site (mkdocs.yml): the generated references rewritten from the code, then the site built
# into build/site (strict: a broken link or anchor fails); docs-serve serves it on loopback only.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs

docs:
	$(PYTHON) tools/gen_cli_docs.py
	$(MKDOCS) build --strict --site-dir build/site

docs-serve:
	$(MKDOCS) serve --strict --dev-addr 127.0.0.1:8000

bench: dev
	$(PIP) install -q -e ".[bench]" --config-settings editable_mode=strict
	$(PYTHON) bench/startup.py

lab-up:
	govops lab install --extranet --dir $(LAB_DIR)
	govops lab up --extranet --devices $(LAB_DEVICES) --dir $(LAB_DIR)

lab-down:
	govops lab down --dir $(LAB_DIR)

# The main job on the built-in lab: bring up the 2,297-device extranet and audit every device.
# The lab has devices that are not IPv6-ready on purpose, so the audit ends with findings (exit 3).
demo: deps dev lab-up
	eval "$$(govops lab env --dir $(LAB_DIR))" && govops net inventory stats
	eval "$$(govops lab env --dir $(LAB_DIR))" && { govops net audit; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 3 ]; }
	eval "$$(govops lab env --dir $(LAB_DIR))" && govops net readiness --by county
	@# the document a city IT department sends: the audit report as a Chinese PDF
	eval "$$(govops lab env --dir $(LAB_DIR))" && { govops --lang zh report audit --format pdf --out $(LAB_DIR)/audit-report-zh.pdf; \
	  rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 3 ]; } && echo "audit report: $$(realpath $(LAB_DIR)/audit-report-zh.pdf)"

# The first PDF page of each report in Chinese, from the lab (extranet audit, lab cloud), for the docs;
# plus a headless Chromium screenshot of each HTML page when chromium is installed (not committed).
PREVIEWS := build/previews
previews:
	mkdir -p $(PREVIEWS) docs/images
	eval "$$(govops lab env --dir $(LAB_DIR))" && { govops net runs -o json | grep -q '"finished"' || govops -q net audit >/dev/null || [ $$? -eq 3 ]; }
	eval "$$(govops lab env --dir $(LAB_DIR))" && for r in audit capacity; do for f in pdf html; do \
	  govops -q --lang zh report $$r -f $$f --out $(PREVIEWS)/report-$$r-zh.$$f; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 3 ] || exit $$rc; done; \
	  pdftoppm -png -r 80 -f 1 -l 1 -singlefile $(PREVIEWS)/report-$$r-zh.pdf docs/images/report-$$r-zh; \
	  if command -v chromium >/dev/null; then chromium --headless --no-sandbox --disable-gpu --window-size=1200,1600 \
	    --screenshot=$(PREVIEWS)/report-$$r-zh-html.png file://$(CURDIR)/$(PREVIEWS)/report-$$r-zh.html 2>/dev/null; fi; done
	@ls -l docs/images/report-*-zh.png

clean:
	rm -rf build .mypy_cache .ruff_cache .hypothesis
