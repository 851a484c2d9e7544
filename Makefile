# Tidings: the single entry point for day-to-day work. `make` (or `make help`) lists it all.
# Each target is one line: what runs on your machine lives in scripts/ (bash), what runs in
# the dev container in devtools/ (Python). `make up` needs only Docker (Compose v2) and make;
# the suites that drive the stack from outside (faults, host-check, nix-check, bench) python3.

.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
MAKEFLAGS += --no-print-directory

# The image's user takes the host's UID/GID, so files the containers write into the bind
# mount stay yours. On a root host it is 1000: the services never run as root.
HOST_UID := $(shell id -u)
HOST_GID := $(shell id -g)
APP_UID := $(if $(filter 0,$(HOST_UID)),1000,$(HOST_UID))
APP_GID := $(if $(filter 0,$(HOST_UID)),1000,$(HOST_GID))
# The Compose project: named after the checkout and its path (project_name in scripts/lib.sh).
COMPOSE_PROJECT_NAME ?= $(shell source scripts/lib.sh && echo "$$COMPOSE_PROJECT_NAME")
# What the dev image's dependency layers are made from; a change means a rebuild.
DEPS_HASH := $(shell cat Dockerfile pyproject.toml uv.lock | cksum | cut -d' ' -f1)-$(APP_UID)-$(APP_GID)
# The dev image belongs to this checkout: another clone may lock other dependencies.
DEV_IMAGE := $(COMPOSE_PROJECT_NAME)-dev:latest
export APP_UID APP_GID COMPOSE_PROJECT_NAME DEPS_HASH DEV_IMAGE

# The Nix shell sets COMPOSE=docker-compose, its pinned Compose (with its pinned buildx).
COMPOSE ?= docker compose
export COMPOSE
# No terminal (CI, pipes): Compose must not allocate one. The scripts read it too.
TTY := $(shell [ -t 0 ] && [ -t 1 ] || echo -T)
export TTY
# A one-off container of the dev image with the code mounted, without starting services.
RUN := $(COMPOSE) run --rm --no-deps $(TTY) web
# The same, for commands that rewrite files in the checkout: they run as you (the image
# user everywhere but on a root host), so the files keep their owner.
RUN_AS_YOU := $(COMPOSE) run --rm --no-deps $(TTY) --user $(HOST_UID):$(HOST_GID) web

##@ Stack

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2} /^##  / {print substr($$0, 3)}' $(MAKEFILE_LIST)

# Made on first use; after a pull that brings new secrets to .env.example, they are added.
.env: .env.example
	@scripts/init-env

.PHONY: setup
setup: .env ## Create .env (random secrets) and build the images
	$(COMPOSE) build

.PHONY: image
image: .env ## Rebuild the dev image if Dockerfile, pyproject.toml or uv.lock changed
	@scripts/ensure-image

.PHONY: up
up: .env ## Start the whole stack, migrate, wait until healthy, print the URLs
	@scripts/up

.PHONY: down
down: ## Stop the stack (volumes, and so your data, are kept)
	$(COMPOSE) down --remove-orphans

# The production stack, locally: its own project; the runtime image (compose.prod.yml).
PROD := COMPOSE_PROJECT_NAME=$(COMPOSE_PROJECT_NAME)-prod COMPOSE_FILE=docker-compose.yml:compose.prod.yml

.PHONY: prod-up
prod-up: .env ## Production, locally: the runtime image, hardened, behind nginx on 127.0.0.1:8080
	@$(PROD) scripts/up --prod

.PHONY: prod-down
prod-down: ## Stop the production stack (its volumes, and so its data, are kept)
	$(PROD) $(COMPOSE) down --remove-orphans

.PHONY: swarm-up
swarm-up: .env ## Deploy to Docker Swarm (single-node if none): migrations, then a rolling update
	@scripts/swarm up

.PHONY: swarm-down
swarm-down: .env ## Remove the Swarm stack and its secrets (its volumes are kept)
	@scripts/swarm down

.PHONY: ps
ps: ## Show the services and their health
	$(COMPOSE) ps --all

.PHONY: logs
logs: ## Follow the logs (S=web for one service)
	$(COMPOSE) logs --follow --tail 100 $(S)

.PHONY: debug
debug: image ## Restart web and worker under debugpy (attach on 5678 / 5679; make up to undo)
	$(COMPOSE) -f docker-compose.yml $(if $(wildcard docker-compose.override.yml),-f docker-compose.override.yml) -f compose.debug.yml up --detach --wait web worker

.PHONY: admin-password
admin-password: image ## Set the owner's password for the admin pages (/admin): its hash goes into .env
	$(RUN_AS_YOU) python -m devtools.admin_password

.PHONY: mail-chaos
mail-chaos: ## Mailpit refuses recipients (CODE=451 defers, CODE=550 fails, P=percent); alone: off
	$(COMPOSE) exec $(TTY) web python -m devtools.mail_chaos $(CODE) $(if $(CODE),$(P))

.PHONY: doctor
doctor: ## Check Docker, Compose, make, ports, .env, line endings, disk, UID/GID; say how to fix
	@MAKE_VERSION=$(MAKE_VERSION) scripts/doctor

.PHONY: run
run: image ## Run a command in a one-off dev container (CMD="flask --app app.wsgi routes")
	$(RUN) $(CMD)

.PHONY: shell
shell: ## Open a shell in the running web container (says if its image is out of date)
	@scripts/shell

##@ Database

.PHONY: migrate
migrate: image ## Apply pending database migrations
	@scripts/db migrate

.PHONY: psql
psql: ## Open psql on the dev database
	$(COMPOSE) exec $(TTY) db sh -c 'psql -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'

.PHONY: redis-cli
redis-cli: ## Open redis-cli on the cache (R=broker for the job queue)
	$(COMPOSE) exec $(TTY) $(or $(R),cache) redis-cli

.PHONY: db-backup
db-backup: .env ## Dump the dev database to backups/<db>-<timestamp>.dump
	@scripts/db backup

.PHONY: db-restore
db-restore: .env ## Restore a dump (FILE=backups/x.dump; asks first, CONFIRM=1 skips)
	@scripts/db restore "$(FILE)"

.PHONY: db-reset
db-reset: image ## Empty and re-migrate the dev database (backs up and asks first)
	@scripts/db reset

.PHONY: clean
clean: .env ## Remove containers and volumes, i.e. all data (backs up and asks first)
	@scripts/db clean

.PHONY: seed
seed: image ## Add sample subscribers and issues to the dev database (safe to repeat)
	$(COMPOSE) run --rm $(TTY) web flask --app app.wsgi seed

.PHONY: migration
migration: image ## Generate a migration from the models (M="add x")
	$(COMPOSE) run --rm $(TTY) --user $(HOST_UID):$(HOST_GID) web alembic revision --autogenerate -m "$(M)"

##@ Checks

.PHONY: test
# The whole suite in one process per core, up to four (each with its own databases:
# devtools/testdb.py), with coverage; a selection (T) in one process, which starts in a
# second rather than ten, and without coverage.
test: .env ## Run the tests in an isolated throw-away stack (T="tests/app/test_settings.py -k x")
	@scripts/test-stack pytest $(or $(T),--numprocesses=auto --maxprocesses=4 --cov)

.PHONY: e2e
e2e: .env ## The browser suite: Chromium (Playwright) drives the pages, in the test stack; a failing step leaves e2e-artifacts/
	@mkdir -p e2e-artifacts && chmod a+rwx e2e-artifacts && TEST_SERVICE=e2e scripts/test-stack pytest tests/e2e $(T)

.PHONY: lighthouse
lighthouse: .env ## Lighthouse on the home page, an issue and the sign-in page of the running stack: 0.95 or better
	@scripts/lighthouse

.PHONY: faults
faults: .env ## A reader's journey and the faults, from outside a throw-away stack (STACK=prod: the production one, scaled)
	@STACK=$(or $(STACK),dev) python3 -m unittest -v tests.stack.test_faults

.PHONY: bench
bench: .env ## Benchmarks, each figure beside its target (PART=services|devloop|scale: one of them)
	@for part in $(or $(PART),services devloop scale); do if [ $$part = services ]; then scripts/test-stack python -m bench.services; else python3 -m bench.$$part; fi || exit 1; done

.PHONY: lint
lint: image ## Lint: ruff (code and format), hadolint (Dockerfile), shellcheck (scripts)
	$(RUN) python -m devtools.lint

# Policy checks operators run: checkov, in a throw-away container (its own dependencies are
# many, and the dev image need not carry them); each skipped check says why, beside it.
CHECKOV := checkov==3.3.30
.PHONY: policy
policy: ## Policy checks (checkov) on the Dockerfile, the Kubernetes manifests and the workflows
	docker run --rm --volume "$(CURDIR):/src:ro" --workdir /src --volume tidings-checkov-cache:/root/.cache/pip python:3.13-slim sh -c 'pip install --quiet --root-user-action=ignore --disable-pip-version-check $(CHECKOV) && checkov --directory . --framework dockerfile kubernetes github_actions --compact --quiet --skip-download'

.PHONY: typecheck
typecheck: image ## Type-check (mypy, strict)
	$(RUN) mypy

.PHONY: fmt
fmt: image ## Format the code, apply safe lint fixes, regenerate .env.example and docs/configuration.md
	$(RUN_AS_YOU) sh -c 'python -m devtools.configuration && ruff format . && ruff check --fix .'

.PHONY: ci
ci: ## Run here what the CI workflow (.github/workflows/ci.yml) runs
	$(MAKE) lint policy typecheck test e2e faults && $(MAKE) faults STACK=prod

.PHONY: parity
parity: .env ## Every difference of development from production, and of Swarm and Kubernetes from it, with why
	@scripts/parity

.PHONY: swarm-check
swarm-check: .env ## Test make swarm-up and a rolling update under load, in a throw-away copy
	@python3 -m unittest -v tests.stack.test_swarm

.PHONY: nix-check
nix-check: ## Test flake.nix, flake.lock and .envrc offline (needs nix, direnv, shellcheck, uv on the host)
	@python3 -m unittest -v tests.stack.test_nix

.PHONY: host-check
host-check: ## Test the developer experience on this host: doctor, .env, two checkouts, backups, UIDs, make parity
	@python3 -m unittest -v tests.stack.test_host tests.stack.test_parity

# In the Dockerfile's uv stage (Python and uv, no dependencies): the dev image cannot be built
# from a pyproject.toml whose lock is not written yet. Labelled with the project, as Compose
# labels the images it builds.
.PHONY: lock
lock: ## Update uv.lock after changing dependencies in pyproject.toml
	docker build --quiet --target uv-base --label com.docker.compose.project=$(COMPOSE_PROJECT_NAME) --tag $(COMPOSE_PROJECT_NAME)-uv . >/dev/null && docker run --rm --user $(HOST_UID):$(HOST_GID) --env UV_CACHE_DIR=/tmp/uv --volume "$(CURDIR):/app" $(COMPOSE_PROJECT_NAME)-uv uv lock

# For scripts and workflows: the value of one of this Makefile's variables (make print-DEV_IMAGE).
print-%:
	@echo '$($*)'

##  
##  Variables: T="pytest args" (test), S=service (logs), M="message" (migration),
##             FILE=backup (db-restore), CONFIRM=1 (skip questions), R=broker (redis-cli),
##             CODE=451|550 and P=percent (mail-chaos), PART=services|devloop|scale (bench).
