#!/usr/bin/env bash
# Build (once, cached) and run InfluxDB OSS 2.7.12 on machines without an
# official binary. On an ordinary machine use the official influxd binary or
# container and point INFLUX_URL at it instead.
#
#   scripts/influxd.sh ensure          build unless cached; prints the binary path
#   scripts/influxd.sh path            prints the binary path (no build)
#   scripts/influxd.sh start DIR PORT  runs influxd in the foreground on 127.0.0.1:PORT
set -euo pipefail

VERSION=2.7.12
CACHE_DIR="${FLEETDOC_CACHE_DIR:-$HOME/.cache/fleetdoc}"
BIN="$CACHE_DIR/influxd-$VERSION"

log() { echo "[influxd.sh] $*" >&2; }

build() {
  command -v go >/dev/null || { log "go is required to build influxd"; exit 1; }
  command -v cargo >/dev/null || { log "cargo (rustup stable) is required to build libflux"; exit 1; }
  mkdir -p "$CACHE_DIR"
  local work
  work="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
  log "downloading github.com/influxdata/influxdb/v2@v$VERSION (go module)"
  local dir
  dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/influxdata/influxdb/v2@v$VERSION" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  log "installing pkg-config shim (builds libflux on demand)"
  GOBIN="$work/bin" go install github.com/influxdata/pkg-config@v0.2.14
  # libflux pins an old Rust and denies warnings that today's rustc raises;
  # RUSTFLAGS does not reach build-dependencies under --target, a wrapper does.
  cat >"$work/bin/rustc-wrapper" <<'WRAP'
#!/usr/bin/env bash
exec "$@" --cap-lints=warn
WRAP
  chmod +x "$work/bin/rustc-wrapper"
  log "building influxd (about 5 minutes, ~1.4 GB RAM)"
  (cd "$work/src" && PKG_CONFIG="$work/bin/pkg-config" RUSTUP_TOOLCHAIN=stable \
     RUSTC_WRAPPER="$work/bin/rustc-wrapper" GOFLAGS=-mod=mod \
     go build -o "$work/influxd" ./cmd/influxd)
  mv "$work/influxd" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
  rm -rf "$work"
  log "built $BIN"
}

case "${1:-}" in
  ensure)
    if [[ -n "${INFLUXD_BIN:-}" && -x "${INFLUXD_BIN}" ]]; then echo "$INFLUXD_BIN"; exit 0; fi
    if command -v influxd >/dev/null 2>&1; then command -v influxd; exit 0; fi
    [[ -x "$BIN" ]] || build
    echo "$BIN"
    ;;
  path)
    if [[ -n "${INFLUXD_BIN:-}" && -x "${INFLUXD_BIN}" ]]; then echo "$INFLUXD_BIN"; exit 0; fi
    if command -v influxd >/dev/null 2>&1; then command -v influxd; exit 0; fi
    [[ -x "$BIN" ]] && echo "$BIN" || exit 1
    ;;
  start)
    dir="${2:?data dir}"; port="${3:?port}"
    bin="$("$0" ensure)"
    mkdir -p "$dir"
    exec "$bin" --bolt-path "$dir/influxd.bolt" --engine-path "$dir/engine" \
      --sqlite-path "$dir/influxd.sqlite" \
      --http-bind-address "127.0.0.1:$port" --reporting-disabled --log-level error
    ;;
  *) echo "usage: $0 ensure|path|start DIR PORT" >&2; exit 2 ;;
esac
