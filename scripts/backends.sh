#!/usr/bin/env bash
# backends.sh — the real metrics servers obsnb's live tests and benchmark run against, loopback only.
#
#   bash scripts/backends.sh [start]  install prometheus + victoria-metrics if missing (apt, with a temporary
#                                     policy-rc.d so no daemon starts on 0.0.0.0), start both on free 127.0.0.1
#                                     ports with 100-year retention, backfill scripts/gen_backend_fixture.py's
#                                     data, wait until it can be queried, write $DIR/env and print it
#   bash scripts/backends.sh stop     stop exactly the PIDs this script recorded (TERM, KILL after 10 s)
#   bash scripts/backends.sh status
#
# $OBSNB_BACKENDS_DIR (default /tmp/obsnb-backends): data dirs, logs, pid/port files, env file.
# "start" while both servers answer only rewrites the env file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${OBSNB_BACKENDS_DIR:-/tmp/obsnb-backends}"
PY="${PYTHON:-python3}"
T0=1704067200          # fixture start, 2024-01-01T00:00:00Z
SERIES_AT_1H=15        # series with a sample at T0+1h

say() { printf '[backends] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
port_free() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
url_of() { echo "http://127.0.0.1:$(cat "$DIR/$1.port")"; }

http_ok() { "$PY" - "$1" <<'EOF'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).read()
except Exception:
    sys.exit(1)
EOF
}

series_at() { "$PY" - "$1" "$2" <<'EOF'
import json, sys, urllib.parse, urllib.request
q = urllib.parse.urlencode({"query": '{__name__=~"obsnb_.+"}', "time": sys.argv[2]})
try:
    d = json.load(urllib.request.urlopen(f"{sys.argv[1]}/api/v1/query?{q}", timeout=5))
    print(len(d["data"]["result"]))
except Exception:
    print(0)
EOF
}

install_missing() {
  local pkgs=()
  command -v prometheus >/dev/null && command -v promtool >/dev/null || pkgs+=(prometheus)
  command -v victoria-metrics >/dev/null || pkgs+=(victoria-metrics)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "need root to install ${pkgs[*]} (apt-get)"
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # postinst would start the daemons on 0.0.0.0 without it
    policy=/usr/sbin/policy-rc.d; printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
  fi
  say "apt-get install ${pkgs[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  [ -n "$policy" ] && rm -f "$policy"
  return 0
}

launch() { # name url-to-wait-for-suffix command...
  local name=$1 ready=$2 port try; shift 2
  for try in 1 2 3; do
    port=$(port_free)
    nohup "${@//@PORT@/$port}" >"$DIR/$name.log" 2>&1 &
    echo $! >"$DIR/$name.pid"; echo "$port" >"$DIR/$name.port"
    for _ in $(seq 1 300); do
      http_ok "http://127.0.0.1:$port$ready" && return 0
      alive "$name" || break
      sleep 0.1
    done
    say "$name did not start on port $port (try $try): $(tail -2 "$DIR/$name.log" | tr '\n' ' ')"
    stop_one "$name"
  done
  die "$name failed to start (log: $DIR/$name.log)"
}

wait_data() { # name
  for _ in $(seq 1 300); do
    [ "$(series_at "$(url_of "$1")" $((T0 + 3600)))" = "$SERIES_AT_1H" ] && return 0
    sleep 0.2
  done
  die "$1: the fixture is not queryable (log: $DIR/$1.log)"
}

stop_one() { # name
  local pid
  [ -f "$DIR/$1.pid" ] || return 0
  pid=$(cat "$DIR/$1.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    say "stopped $1 (pid $pid)"
  fi
  rm -f "$DIR/$1.pid"
}

write_env() {
  cat >"$DIR/env" <<EOF
OBSNB_PROMETHEUS_URL=$(url_of prometheus)
OBSNB_VICTORIAMETRICS_URL=$(url_of victoria-metrics)
OBSNB_FIXTURE_T0=$T0
OBSNB_FIXTURE_END=$((T0 + 10800))
OBSNB_FIXTURE_STEP=15
EOF
  cat "$DIR/env"
}

start() {
  mkdir -p "$DIR"
  if alive prometheus && alive victoria-metrics && http_ok "$(url_of prometheus)/-/ready" && http_ok "$(url_of victoria-metrics)/health"; then
    write_env; return 0
  fi
  stop_one prometheus; stop_one victoria-metrics
  install_missing
  "$PY" "$ROOT/scripts/gen_backend_fixture.py" "$DIR/fixture" --t0 "$T0" >/dev/null
  # Prometheus: backfill blocks BEFORE start (a running server picks new blocks up only at its next reload).
  rm -rf "$DIR/prom-data" "$DIR/vm-data"; mkdir -p "$DIR/prom-data"
  promtool tsdb create-blocks-from openmetrics -q "$DIR/fixture/fixture.om" "$DIR/prom-data" >/dev/null
  printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' >"$DIR/prometheus.yml"
  # 100y retention: retention counts from the newest block, and the fixture is from 2024.
  launch prometheus /-/ready prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prom-data" \
    --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:@PORT@ --web.enable-lifecycle
  # VM: 100y retention (else 2024 rows are dropped at import with HTTP 204), no rollup cache while backfilling,
  # no 30 s latency offset.
  launch victoria-metrics /health victoria-metrics -storageDataPath="$DIR/vm-data" -httpListenAddr=127.0.0.1:@PORT@ \
    -retentionPeriod=100y -search.disableCache -search.latencyOffset=0s
  "$PY" - "$(url_of victoria-metrics)" "$DIR/fixture/fixture.om" <<'EOF'
import sys, urllib.request
base, path = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/import/prometheus", data=f.read()), timeout=30).read()
urllib.request.urlopen(f"{base}/internal/force_flush", timeout=30).read()  # searchable now, not in ~1 s
EOF
  wait_data prometheus
  wait_data victoria-metrics
  write_env
}

case "${1:-start}" in
  start) start ;;
  stop) stop_one prometheus; stop_one victoria-metrics ;;
  status) for n in prometheus victoria-metrics; do
            if alive "$n"; then echo "$n: pid $(cat "$DIR/$n.pid") $(url_of "$n")"; else echo "$n: not running"; fi
          done ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
