# Two entry points for a fresh machine: `make run` (the pipeline) and `make test` (the suite).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip here also reads local wheel folders and complains about each one it skips; keep the real errors.
QUIET_PIP := grep -v "^WARNING: Location" || true

# Vega for the offline plots page: npm packages in an ignored folder, never committed.
VEGA_DIR ?= .vega
VEGA_JS := $(VEGA_DIR)/node_modules/vega/build/vega.min.js $(VEGA_DIR)/node_modules/vega-lite/build/vega-lite.min.js \
	$(VEGA_DIR)/node_modules/vega-embed/build/vega-embed.min.js
PLOTS_DIR ?= dvc_plots

.PHONY: setup run test bench cost-curve claims verdict results plots vega browser clean remote
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --progress-bar off -e '.[test]' 2>&1 | { $(QUIET_PIP); }
	$(PY) -c "import quickdraw_vae, torch, dvc"
	touch $(STAMP)

run: setup
	PATH=$(abspath $(VENV))/bin:$$PATH dvc repro

# The test set-up also brings what the offline-plots test drives: Vega from npm and Debian's Chromium.
# Two workers, one test file each at a time (its module fixtures stay in one process), one thread each.
TEST_WORKERS ?= 2
test: setup vega browser
	PATH=$(abspath $(VENV))/bin:$$PATH python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Figures, not assertions: training and evaluation speed, loop efficiency, stage wall times.
bench: setup
	$(PY) tools/bench.py

# Each stage's seconds and peak memory at 20 k, 200 k and 1 M synthetic drawings (about an hour on 2 cores),
# written into docs/performance.md. SIZES="20000 200000" for fewer; STAGES=train_judge measures one stage again.
SIZES ?= 20000 200000 1000000
cost-curve: setup
	$(PY) tools/cost_curve.py --sizes $(SIZES) --doc docs/performance.md $(if $(STAGES),--stages $(STAGES))

# Every claim of the study over seeds, under its protocol and ours (DVC's experiment queue; hours on a CPU).
# E.g. CLAIMS_ARGS="--set data.source=../shared/quickdraw --runs 2" (2 runs decide nothing: a check of the machinery).
claims: setup
	PATH=$(abspath $(VENV))/bin:$$PATH python -m quickdraw_vae.claims $(CLAIMS_ARGS)

# docs/verdict.md: the committed configuration against VERDICT_BEFORE's over fresh seeds, one offline run per seed
# and configuration in runs/ (a clone each, one DVC cache: a sampler-only change reuses the trained models).
VERDICT_SEEDS ?= 500 501 502 503 504
VERDICT_DATA ?= --set data.source=../shared/quickdraw --set data.train_per_class=640 --set data.test_per_class=160
VERDICT_BEFORE ?= --set perceptual.weight=0 --set sample.temperature=0.7 --set sample.class_scale=1.25 --set sample.sharpen=5 \
	--set sample.temperature_by_model.rnn_cnn=0.8 --set sample.temperature_by_model.cnn_cnn=0.8
VERDICT_BEFORE_NAME ?= before (no perceptual term; T 0.7, x1.25, k 5)
# tools/sampler_study.py --workspace runs/after/s500 --setting <after> --figure-before runs/before/s500 <before> --figure docs/...
VERDICT_FIGURE ?= figures/spread_before_after.png
verdict: setup
	$(PY) tools/seed_runs.py --out runs/after --seeds $(VERDICT_SEEDS) $(VERDICT_DATA)
	$(PY) tools/seed_runs.py --out runs/before --seeds $(VERDICT_SEEDS) $(VERDICT_DATA) $(VERDICT_BEFORE)
	$(PY) tools/seed_verdict.py --before $(addprefix runs/before/s,$(VERDICT_SEEDS)) \
		--after $(addprefix runs/after/s,$(VERDICT_SEEDS)) --names "$(VERDICT_BEFORE_NAME)" committed --out metrics/verdict.md \
		$(if $(VERDICT_FIGURE),--figure $(VERDICT_FIGURE))
	$(PY) tools/results_page.py --source metrics/verdict.md --out docs/verdict.md --title "Variety over fresh seeds" \
		--command 'make verdict VERDICT_SEEDS="$(VERDICT_SEEDS)" VERDICT_BEFORE="$(VERDICT_BEFORE)"'

# docs/results.md (and docs/claims.md when metrics/claims.md exists), stamped with the command that made them.
RESULTS_COMMAND ?= dvc exp run -S data.source=../shared/quickdraw -S data.train_per_class=640 -S data.test_per_class=160
CLAIMS_COMMAND ?= make claims CLAIMS_ARGS="--set data.source=../shared/quickdraw --set data.train_per_class=640 --set data.test_per_class=160 --set runtime.threads=1"
results: setup
	$(PY) tools/results_page.py --source metrics/metrics_summary.md --out docs/results.md --command '$(RESULTS_COMMAND)'
	test ! -f metrics/claims.md || { $(PY) tools/results_page.py --source metrics/claims.md --out docs/claims.md \
		--title "The study's claims, checked" --command '$(CLAIMS_COMMAND)' && cp plots/claims.png docs/figures/claims_curves.png; }

vega: $(firstword $(VEGA_JS))
$(firstword $(VEGA_JS)):
	npm install --no-save --no-audit --no-fund --loglevel=error --prefix $(VEGA_DIR) \
		vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0

browser:
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# `dvc plots show` loads Vega from a CDN; this page loads local copies and works offline.
plots: setup vega
	PATH=$(abspath $(VENV))/bin:$$PATH dvc plots show --html-template .dvc/offline_plots.html -o $(PLOTS_DIR)
	cp $(VEGA_JS) $(PLOTS_DIR)/
	@echo "offline plots: $(PLOTS_DIR)/index.html"

clean:
	rm -rf $(VENV) $(VEGA_DIR) $(PLOTS_DIR)

# The team's DVC remote: make remote URL=/mnt/team-store, or URL=s3://bucket/prefix [ENDPOINT=https://...]
# (S3 needs the s3 extra: .venv/bin/pip install -e '.[s3]'). Then `dvc push`; a teammate: `dvc pull`.
remote: setup
	test -n "$(URL)" || { echo "usage: make remote URL=<folder or s3://bucket/prefix> [ENDPOINT=<url>]"; exit 2; }
	PATH=$(abspath $(VENV))/bin:$$PATH dvc remote add -f -d team $(URL)
	$(if $(ENDPOINT),PATH=$(abspath $(VENV))/bin:$$PATH dvc remote modify team endpointurl $(ENDPOINT))
