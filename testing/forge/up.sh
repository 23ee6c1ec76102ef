#!/usr/bin/env bash
# Starts the project's test forge, upstream Gitea with SQLite, with its state under DIR:
#   up.sh DIR
# Builds what is missing (build.sh; cached by version outside the checkout). On a new DIR it
# writes DIR/app.ini (HTTP and SSH on loopback only, no mail, webhooks allowed to loopback, installed),
# migrates the database and creates an admin with an API token; on a DIR it started before it
# starts the same forge again with its data, port and token. Writes DIR/env:
#   GITEA_URL GITEA_PORT GITEA_SSH_PORT GITEA_ADMIN_USER GITEA_ADMIN_PASSWORD GITEA_ADMIN_TOKEN
#   GITEA_BIN GITEA_DIR
# and returns once the API answers. down.sh DIR stops it (DIR's data stays). Git over SSH is
# Gitea's own SSH server on 127.0.0.1:GITEA_SSH_PORT (user `git`, host keys under
# DIR/data/ssh), for deploy keys.
#
# Environment (defaults in brackets):
#   GANTRY_FORGE_CACHE  where build.sh caches the build [/var/cache/gantry-forge]
#   GANTRY_FORGE_BIN    a directory with gitea, options/ and templates/, instead of building
#   GANTRY_FORGE_PORT   the HTTP port on 127.0.0.1 of a new DIR [a free one]
#   GANTRY_FORGE_SSH_PORT  its SSH port [a free one]
set -euo pipefail
say() { echo "forge: $*" >&2; }
die() { echo "forge: FAIL: $*" >&2; exit 1; }
[ $# = 1 ] || { echo "usage: up.sh DIR" >&2; exit 2; }
for tool in curl git openssl setsid; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"/{data,logs,pids,custom,home}
DIR=$(cd "$1" && pwd)
if [ -f "$DIR/pids/gitea" ] && kill -0 "$(cat "$DIR/pids/gitea")" 2>/dev/null; then
  die "a forge already runs under $DIR (testing/forge/down.sh $DIR)"
fi
start=$(date +%s)

bin=${GANTRY_FORGE_BIN:-$("$here/build.sh" | tail -1)}
[ -x "$bin/gitea" ] && [ -d "$bin/options" ] && [ -d "$bin/templates" ] ||
  die "$bin has no gitea with options/ and templates/ beside it"

# Gitea refuses to run as root unless told; the test machines run everything as root.
[ "$(id -u)" != 0 ] || export GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true
export GITEA_WORK_DIR=$DIR GITEA_CUSTOM=$DIR/custom HOME=$DIR/home
gitea() { "$bin/gitea" --config "$DIR/app.ini" "$@"; }

if [ -f "$DIR/env" ]; then
  # The same forge again: its port and admin from the first start.
  # shellcheck disable=SC1091
  . "$DIR/env"
  port=$GITEA_PORT
else
  # free_port: one that nothing answers on.
  free_port() {
    local p
    for p in $(shuf -i 20000-40000 -n 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    die "no free port found (set GANTRY_FORGE_PORT and GANTRY_FORGE_SSH_PORT)"
  }
  port=${GANTRY_FORGE_PORT:-$(free_port)}
  ssh_port=${GANTRY_FORGE_SSH_PORT:-$(free_port)}
  [ "$ssh_port" != "$port" ] || ssh_port=$(free_port)
  secret() { openssl rand -hex 32; }
  cat >"$DIR/app.ini" <<INI
APP_NAME = gantry test forge
RUN_USER = $(id -un)
RUN_MODE = prod
WORK_PATH = $DIR

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $port
ROOT_URL = http://127.0.0.1:$port/
DOMAIN = 127.0.0.1
STATIC_ROOT_PATH = $bin
APP_DATA_PATH = $DIR/data
DISABLE_SSH = false
START_SSH_SERVER = true
SSH_DOMAIN = 127.0.0.1
SSH_LISTEN_HOST = 127.0.0.1
SSH_PORT = $ssh_port
SSH_LISTEN_PORT = $ssh_port
BUILTIN_SSH_SERVER_USER = git
OFFLINE_MODE = true
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = $DIR/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = $DIR/data/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = $(secret)
INTERNAL_TOKEN = $(secret)
PASSWORD_HASH_ALGO = pbkdf2_hi

[oauth2]
JWT_SECRET = $(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
DEFAULT_KEEP_EMAIL_PRIVATE = true

[webhook]
; serve listens on loopback in the tests; Gitea delivers only to external hosts by default.
ALLOWED_HOST_LIST = loopback,private
DELIVER_TIMEOUT = 10

[mailer]
ENABLED = false

[picture]
DISABLE_GRAVATAR = true
ENABLE_FEDERATED_AVATAR = false

[session]
PROVIDER = file
PROVIDER_CONFIG = $DIR/data/sessions

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = file
LEVEL = Info
ROOT_PATH = $DIR/logs
INI
  say "migrating a new database under $DIR"
  gitea migrate >"$DIR/logs/setup.log" 2>&1 || { tail -20 "$DIR/logs/setup.log" >&2; die "gitea migrate failed"; }
  GITEA_ADMIN_USER=gantry-admin
  GITEA_ADMIN_PASSWORD=$(openssl rand -hex 16)
  gitea admin user create --admin --username "$GITEA_ADMIN_USER" --password "$GITEA_ADMIN_PASSWORD" \
    --email gantry-admin@example.com --must-change-password=false >>"$DIR/logs/setup.log" 2>&1 ||
    { tail -20 "$DIR/logs/setup.log" >&2; die "cannot create the admin"; }
  GITEA_ADMIN_TOKEN=$(gitea admin user generate-access-token --username "$GITEA_ADMIN_USER" \
    --token-name gantry-tests --scopes all --raw 2>>"$DIR/logs/setup.log" | tail -1)
  [ -n "$GITEA_ADMIN_TOKEN" ] || { tail -20 "$DIR/logs/setup.log" >&2; die "cannot create the admin's token"; }
  umask 077
  GITEA_URL=http://127.0.0.1:$port GITEA_PORT=$port GITEA_SSH_PORT=$ssh_port
  GITEA_BIN=$bin GITEA_DIR=$DIR
  for v in GITEA_URL GITEA_PORT GITEA_SSH_PORT GITEA_ADMIN_USER GITEA_ADMIN_PASSWORD \
    GITEA_ADMIN_TOKEN GITEA_BIN GITEA_DIR; do
    printf '%s=%s\n' "$v" "${!v}"
  done >"$DIR/env.tmp"
  mv "$DIR/env.tmp" "$DIR/env"
  umask 022
fi

# In its own session (it outlives this script), so down.sh stops it with its git children.
setsid "$bin/gitea" --config "$DIR/app.ini" web >>"$DIR/logs/gitea.log" 2>&1 </dev/null &
echo $! >"$DIR/pids/gitea"
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v1/version" 2>/dev/null && break
  kill -0 "$(cat "$DIR/pids/gitea")" 2>/dev/null || { tail -30 "$DIR/logs/gitea.log" >&2; die "gitea exited (log: $DIR/logs/gitea.log)"; }
  sleep 0.2
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v1/version" ||
  { tail -30 "$DIR/logs/gitea.log" >&2; die "the API did not answer in 60s (log: $DIR/logs/gitea.log)"; }
say "up in $(( $(date +%s) - start ))s: http://127.0.0.1:$port ($("$bin/gitea" --version 2>/dev/null | head -1))"
