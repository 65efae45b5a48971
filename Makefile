# The two commands: `make demo` and `make test`. Both set up .venv from pyproject.toml when it is
# missing or older than pyproject.toml, so they work on a fresh machine with Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Prefect: local (ephemeral) mode, no telemetry, no stray profile from the machine.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME := $(CURDIR)/var/prefect
# The local Prefect server's port (`make ui`); the runs' addresses the demo prints and its alerts follow it.
UI_PORT ?= 4200
demo ui: export PREFECT_SERVER_API_PORT := $(UI_PORT)

.PHONY: install browser demo test lint ui clean

install: $(INSTALLED) | $(PREFECT_HOME)

$(PREFECT_HOME):
	@mkdir -p $@

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(INSTALLED)

# The report tests render each report in headless Chromium: Debian's package, installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  $(SUDO) apt-get install -y --no-install-recommends chromium >/dev/null || \
	  ($(SUDO) apt-get update >/dev/null && $(SUDO) apt-get install -y --no-install-recommends chromium >/dev/null)

# The demo authority is regenerated as of today, so each demo starts from a fresh demo store; its
# history is loaded, then the audit-cycle flow runs in Prefect's local mode, its returns, chasing and
# moderation are played out, and the month's triangulation, the cycle's reports and a deep dive follow; then
# the adults' demo shows the commissioned care market.
# A local SMTP sink receives every email; it is stopped whatever happens. `make demo` is the adults'
# authority (qaloop.yaml); `make demo AUTHORITY=children` a children's services authority on Coventry's
# configuration, its cases read from an Ofsted Annex A workbook (configs/coventry.yaml).
AUTHORITY ?= adults
ifeq ($(AUTHORITY),children)
DEMO_CONFIG := --config configs/coventry.yaml
# The children's demo has no audit history: its next cycle is its first, which the cycle must be told.
demo: export QALOOP_CALENDAR__FIRST_CYCLE ?= $(shell date +%F)
DEMO_FRESH := var/coventry output/coventry
DEMO_MAIL := output/coventry/mail
DEMO_DIVE := --type child_protection --theme "Child protection plans" --reason "asked for by the safeguarding partnership"
else
DEMO_CONFIG :=
DEMO_FRESH := var/qaloop.db var/qaloop.db-wal var/qaloop.db-shm var/returns output/mail output/cycles output/quarantine output/triangulation
DEMO_MAIL := output/mail
DEMO_DIVE := --type mca_assessment --theme "Best interests decisions" --reason "asked for by the governance board after an Ombudsman finding"
# The leadership's governance: last month's performance compendium from the synthetic KPI return.
DEMO_GOVERNANCE := echo "" && echo "Last month's performance compendium (the KPI return's indicators on their SPC charts):" && \
	$(BIN)/qaloop compendium $(DEMO_CONFIG) && \
	echo "" && echo "The quarterly quality assurance report to the leadership team (the quarter last ended):" && \
	$(BIN)/qaloop quarterly $(DEMO_CONFIG) && \
	echo "" && echo "A service area's next six-monthly service performance review (its workbook's evidence pre-filled," && \
	echo "sent, the self-assessment returned, the panel's record filed, its actions in the register):" && \
	$(BIN)/qaloop demo-review OPPD $(DEMO_CONFIG) && $(BIN)/qaloop review list $(DEMO_CONFIG) && \
	$(BIN)/qaloop send $(DEMO_CONFIG) && \
	echo "" && echo "Escalation by exception (the day's events raised to the senior leadership team, once):" && \
	$(BIN)/qaloop escalation run $(DEMO_CONFIG) && $(BIN)/qaloop escalation list $(DEMO_CONFIG) &&
# Then the commissioned care market on Herefordshire's strategy (configs/herefordshire.yaml): a few hundred
# providers with a year of intelligence, two months of the quality review panel, its pack and the dashboard.
MARKET := --config configs/herefordshire.yaml
DEMO_FRESH += var/herefordshire output/herefordshire
DEMO_MARKET := echo "" && echo "The commissioned care market (Herefordshire's strategy, configs/herefordshire.yaml):" && \
	$(BIN)/qaloop init-db $(MARKET) && $(BIN)/qaloop demo-data $(MARKET) && $(BIN)/qaloop load $(MARKET) && \
	$(BIN)/qaloop demo-panel $(MARKET) && $(BIN)/qaloop send $(MARKET) &&
endif
# The workshop dataset's pseudonyms need a secret key; the demo uses a throwaway one unless you set yours.
demo: export QALOOP_REPORTS__PSEUDONYM_KEY ?= demo-only-not-a-secret-7Kq2Vx9Lm4Tz8Rw
# Prefect's local mode starts a temporary server per run; the first, on a fresh clone, creates Prefect's own
# database, which takes longer than Prefect's default 20 s on a 2-core machine.
demo: export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
# The local sink takes mail as fast as it comes (the default is Exchange Online's 30 a minute).
demo: export QALOOP_EMAIL__MESSAGES_PER_MINUTE ?= 3000
demo: install
	rm -rf $(DEMO_FRESH)
	$(BIN)/qaloop init-db $(DEMO_CONFIG)
	$(BIN)/qaloop demo-data $(DEMO_CONFIG)
	$(BIN)/qaloop load $(DEMO_CONFIG)
	@$(BIN)/qaloop mail-sink --seconds 900 $(DEMO_CONFIG) & sink=$$!; \
	trap 'kill $$sink 2>/dev/null' EXIT; sleep 1; \
	$(BIN)/qaloop cycle run $(DEMO_CONFIG) && \
	echo "" && echo "The cycle's returns, chasing and moderation, day by day (simulated staff):" && \
	$(BIN)/qaloop demo-returns $(DEMO_CONFIG) && \
	echo "" && echo "This month's triangulation (audits beside complaints, compliments, the Ombudsman, surveys):" && \
	$(BIN)/qaloop triangulate $(DEMO_CONFIG) && \
	echo "" && echo "The cycle's close: its reports, sent to their distribution lists:" && \
	$(BIN)/qaloop cycle report $(DEMO_CONFIG) && \
	echo "" && echo "A deep dive (run here; \`qaloop deep-dive\` without --here goes through a Prefect server):" && \
	$(BIN)/qaloop deep-dive --here --size 8 $(DEMO_DIVE) $(DEMO_CONFIG) && \
	$(DEMO_GOVERNANCE) \
	$(DEMO_MARKET) \
	echo "" && echo "Emails (one .eml file each): $(CURDIR)/$(DEMO_MAIL)" && \
	echo "Prefect runs:                \`make ui\`, then http://127.0.0.1:$(UI_PORT)/runs"

test: install browser
	$(BIN)/python -m pytest

# A local Prefect server with qaloop's deployments, a worker and a mail sink: the schedules show in the UI at
# http://127.0.0.1:$(UI_PORT) (4200 unless you set UI_PORT), and every email lands in output/mail. The
# workshop dataset's pseudonyms use the demo's throwaway key unless you set yours. Ctrl-C (or SIGTERM to the
# recipe's shell) stops the worker, the sink and the server together.
PREFECT_LOCAL := http://127.0.0.1:$(UI_PORT)/api
# The output folder is served read-only beside the UI, so the report runs' links open the reports.
FILES_PORT ?= 4201
ui: export QALOOP_REPORTS__LINK_BASE ?= http://127.0.0.1:$(FILES_PORT)/
ui: export QALOOP_REPORTS__PSEUDONYM_KEY ?= demo-only-not-a-secret-7Kq2Vx9Lm4Tz8Rw
ui: export QALOOP_EMAIL__MESSAGES_PER_MINUTE ?= 3000
ui: install
	$(BIN)/qaloop init-db
	@mkdir -p var
	@mkdir -p output
	@echo "Pseudonyms: the demo's throwaway key unless QALOOP_REPORTS__PSEUDONYM_KEY is set; mail: the local sink, output/mail"
	@echo "Reports: linked from their runs, served read-only at $$QALOOP_REPORTS__LINK_BASE"
	@$(BIN)/qaloop mail-sink > var/mail-sink.log 2>&1 & sink=$$!; \
	$(BIN)/python -m http.server $(FILES_PORT) --bind 127.0.0.1 --directory output > var/files.log 2>&1 & files=$$!; \
	$(BIN)/prefect server start --host 127.0.0.1 --port $(UI_PORT) > var/prefect-server.log 2>&1 & server=$$!; \
	worker=; trap 'kill $$worker $$sink $$files $$server 2>/dev/null; wait 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 60); do curl -sf $(PREFECT_LOCAL)/health >/dev/null && break; sleep 1; done; \
	export PREFECT_API_URL=$(PREFECT_LOCAL); \
	$(BIN)/prefect work-pool inspect qaloop >/dev/null 2>&1 || $(BIN)/prefect work-pool create qaloop --type process; \
	$(BIN)/prefect --no-prompt deploy --all && $(BIN)/qaloop forms && \
	echo "Prefect UI: http://127.0.0.1:$(UI_PORT) (the audit-cycle schedule is under Deployments)" && \
	{ $(BIN)/prefect worker start --pool qaloop & worker=$$!; wait $$worker; }

lint: install
	$(BIN)/ruff check qaloop cli checks tasks flows tests bench
	$(BIN)/ruff format --check qaloop cli checks tasks flows tests bench

clean:
	rm -rf var output .pytest_cache
