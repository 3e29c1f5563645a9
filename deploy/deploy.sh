#!/usr/bin/env bash
# Deploy and roll back the compose stack in one command (README, Production;
# docs/runbooks/upgrade-rollback.md). Run it in the checkout, beside compose.yaml and .env.
#
#   deploy/deploy.sh deploy [--dry-run]    pre-checks, full backup, build, migrate, a rolling
#                                          API restart (it keeps serving), the rest recreated,
#                                          health wait, smoke test, release recorded, prune;
#                                          a failed smoke test rolls back by itself
#   deploy/deploy.sh rollback [--dry-run]  down-migrate to the previous release's schema (with
#                                          the current image: it has the down sections), the
#                                          previous images, health wait, smoke test
#   deploy/deploy.sh status                the releases recorded (.deploy/releases)
#   deploy/deploy.sh precheck              the pre-checks only
#
# Settings (environment): TFLOW_VERSION (default the git revision), TFLOW_DATA_ROOT (.env,
# else /data), TFLOW_DEPLOY_MIN_FREE_GB (10), TFLOW_DEPLOY_STATE (.deploy),
# TFLOW_DEPLOY_HEALTH_URL (https://localhost/health), TFLOW_DEPLOY_SMOKE_URL (https://localhost),
# TFLOW_DEPLOY_TIMEOUT (180 s), COMPOSE ("docker compose"). --dry-run prints the commands.
set -euo pipefail

COMPOSE=${COMPOSE:-docker compose}
STATE_DIR=${TFLOW_DEPLOY_STATE:-.deploy}
MIN_FREE_GB=${TFLOW_DEPLOY_MIN_FREE_GB:-10}
HEALTH_URL=${TFLOW_DEPLOY_HEALTH_URL:-https://localhost/health}
SMOKE_URL=${TFLOW_DEPLOY_SMOKE_URL:-https://localhost}
TIMEOUT=${TFLOW_DEPLOY_TIMEOUT:-180}
ENV_FILE=${TFLOW_DEPLOY_ENV_FILE:-.env}
IMAGE=transcode-flow/app
PROJECT=transcode-flow
#: The secrets compose requires (compose.yaml's ${VAR:?} entries).
SECRETS="POSTGRES_PASSWORD MINIO_ROOT_PASSWORD TFLOW_ADMIN_KEY TFLOW_STREAM_SECRET TFLOW_WEBHOOK_SECRET"
DRY_RUN=0

say() { printf 'deploy: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# run CMD...: run it, or print it under --dry-run
run() {
  printf '+ %s\n' "$*"
  if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

# env_value NAME: NAME's value in $ENV_FILE (the last assignment; quotes removed), else empty
env_value() {
  [ -f "$ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}

data_root() { local v; v=$(env_value TFLOW_DATA_ROOT); printf '%s\n' "${TFLOW_DATA_ROOT:-${v:-/data}}"; }

check_engine() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed (a Docker engine with compose v2 is needed)"
  docker info >/dev/null 2>&1 || die "no Docker engine answers (is dockerd running, may this user use it?)"
  docker compose version >/dev/null 2>&1 || die "docker compose v2 is missing"
}

check_data_root() {
  local root; root=$(data_root)
  [ -d "$root" ] || die "the data root $root does not exist (TFLOW_DATA_ROOT; PRD §9.1: all state under /data)"
  [ -w "$root" ] || die "the data root $root is not writable"
}

# check_free_space: at least MIN_FREE_GB free on the data root (a build, a backup, new segments)
check_free_space() {
  local root free_kb need_kb; root=$(data_root)
  free_kb=$(df -Pk "$root" | awk 'NR == 2 {print $4}')
  need_kb=$((MIN_FREE_GB * 1024 * 1024))
  [ "$free_kb" -ge "$need_kb" ] || die "only $((free_kb / 1024 / 1024)) GB free on $root; $MIN_FREE_GB GB needed"
}

# check_secrets: every required secret set in $ENV_FILE (or the environment), 16+ characters,
# no placeholder of .env.example (runtime/guard.py refuses those at start too)
check_secrets() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE is missing: cp .env.example .env and set its secrets"
  local name value
  for name in $SECRETS; do
    value=${!name:-$(env_value "$name")}
    [ -n "$value" ] || die "$name is not set in $ENV_FILE"
    [ "${#value}" -ge 16 ] || die "$name is shorter than 16 characters"
    if printf '%s' "$value" | grep -qiE 'change[-_ ]?me|placeholder|example'; then
      die "$name is still the placeholder of .env.example"
    fi
  done
}

precheck() {
  if [ "$DRY_RUN" = 0 ]; then check_engine; else say "(dry run: the engine is not checked)"; fi
  check_data_root
  check_free_space
  check_secrets
  say "pre-checks passed"
}

# releases: "<version> <schema version> <UTC time>" per line, oldest first
record_release() { mkdir -p "$STATE_DIR"; printf '%s %s %s\n' "$1" "$2" "$(date -u +%FT%TZ)" >> "$STATE_DIR/releases"; }
current_release() { [ -f "$STATE_DIR/releases" ] && tail -n 1 "$STATE_DIR/releases"; }
previous_release() {
  [ -f "$STATE_DIR/releases" ] && [ "$(wc -l < "$STATE_DIR/releases")" -ge 2 ] && tail -n 2 "$STATE_DIR/releases" | head -n 1
}
drop_release() { local tmp; tmp=$(mktemp); head -n -1 "$STATE_DIR/releases" > "$tmp"; mv "$tmp" "$STATE_DIR/releases"; }

# schema_version VERSION: the newest applied migration, as the image VERSION reports it
schema_version() {
  if [ "$DRY_RUN" = 1 ]; then echo "SCHEMA"; return; fi
  TFLOW_VERSION=$1 $COMPOSE run --rm --no-deps -T init migrate --status | awk '$1 == "applied" {v = $2} END {print v}'
}

wait_healthy() {
  printf '+ wait for %s (%ss)\n' "$HEALTH_URL" "$TIMEOUT"
  [ "$DRY_RUN" = 0 ] || return 0
  local deadline=$((SECONDS + TIMEOUT))
  until curl -fsSk -o /dev/null "$HEALTH_URL"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

# smoke VERSION: `tflow smoke` from that image on the host's network, the admin key passed
# by name (-e) so that it is in no command line
smoke() {
  TFLOW_ADMIN_KEY=${TFLOW_ADMIN_KEY:-$(env_value TFLOW_ADMIN_KEY)}
  export TFLOW_ADMIN_KEY
  run docker run --rm --network host -e TFLOW_ADMIN_KEY "$IMAGE:$1" smoke "$SMOKE_URL" --insecure
}

# rollout_api VERSION: a second API container of VERSION beside the old one, NGINX sends to
# both, the old one stops (uvicorn finishes its requests), NGINX to the new one only
rollout_api() {
  local old new
  old=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=api" 2>/dev/null || true)
  TFLOW_VERSION=$1 run $COMPOSE up -d --no-deps --no-recreate --scale api=2 api
  if [ "$DRY_RUN" = 0 ]; then
    new=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=api" | grep -vxF "${old:-none}" | head -n 1)
    local deadline=$((SECONDS + TIMEOUT))
    until [ "$(docker inspect -f '{{.State.Health.Status}}' "$new")" = healthy ]; do
      [ "$SECONDS" -lt "$deadline" ] || die "the new API container $new is not healthy after ${TIMEOUT}s"
      sleep 2
    done
  fi
  run $COMPOSE exec -T nginx nginx -s reload
  if [ -n "$old" ]; then
    # shellcheck disable=SC2086 # one id per word
    run docker stop -t 30 $old
    # shellcheck disable=SC2086
    run docker rm $old
  fi
  run $COMPOSE exec -T nginx nginx -s reload
  TFLOW_VERSION=$1 run $COMPOSE up -d --no-deps --no-recreate --scale api=1 api
}

# prune: dangling images, and app images of releases older than the previous one
prune() {
  run docker image prune -f
  local keep tag
  keep=$(tail -n 2 "$STATE_DIR/releases" 2>/dev/null | awk '{print $1}' || true)
  for tag in $(docker images --format '{{.Tag}}' "$IMAGE" 2>/dev/null || true); do
    if ! printf '%s\n' "$keep" | grep -qxF "$tag" && [ "$tag" != latest ]; then run docker rmi "$IMAGE:$tag"; fi
  done
}

deploy() {
  local version schema
  version=${TFLOW_VERSION:-$(git rev-parse --short HEAD)}
  precheck
  say "backing up before the change"
  run $COMPOSE run --rm backup backup
  TFLOW_VERSION=$version run $COMPOSE build
  TFLOW_VERSION=$version run $COMPOSE run --rm init migrate
  schema=$(schema_version "$version")
  [ "$DRY_RUN" = 1 ] || record_release "$version" "$schema"
  rollout_api "$version"
  TFLOW_VERSION=$version run $COMPOSE up -d --remove-orphans
  wait_healthy || { say "not healthy: rolling back"; rollback; die "release $version was not healthy; rolled back"; }
  smoke "$version" || { say "smoke test failed: rolling back"; rollback; die "release $version failed its smoke test; rolled back"; }
  prune
  say "release $version (schema $schema) is live"
}

rollback() {
  local current previous cur_version prev_version prev_schema
  current=$(current_release || true)
  previous=$(previous_release || true)
  [ -n "$previous" ] || die "no previous release recorded in $STATE_DIR/releases to roll back to"
  read -r cur_version _ _ <<< "$current"
  read -r prev_version prev_schema _ <<< "$previous"
  say "rolling back $cur_version -> $prev_version (schema $prev_schema)"
  TFLOW_VERSION=$cur_version run $COMPOSE run --rm init migrate --down-to "$prev_schema"
  rollout_api "$prev_version"
  TFLOW_VERSION=$prev_version run $COMPOSE up -d --remove-orphans
  wait_healthy || die "the previous release $prev_version is not healthy either: see runbooks/disaster-recovery.md"
  smoke "$prev_version" || die "the previous release $prev_version fails its smoke test too"
  [ "$DRY_RUN" = 1 ] || drop_release
  say "release $prev_version is live again"
}

status() {
  [ -f "$STATE_DIR/releases" ] || { say "no release recorded yet"; return 0; }
  printf 'current  %s\nprevious %s\n' "$(current_release)" "$(previous_release || echo none)"
}

main() {
  local action=${1:-}
  shift || true
  [ "${1:-}" = "--dry-run" ] && DRY_RUN=1
  case "$action" in
    deploy) deploy ;;
    rollback) rollback ;;
    status) status ;;
    precheck) precheck ;;
    *) sed -n '2,19p' "$0" >&2; exit 2 ;;
  esac
}

# sourced with DEPLOY_LIBRARY=1 (the unit tests): the functions only
if [ "${DEPLOY_LIBRARY:-0}" != 1 ]; then main "$@"; fi
