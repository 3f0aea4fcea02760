#!/usr/bin/env bash
# S3-compatible stores for the tests, on 127.0.0.1. Sourced by test-s3.sh (and usable by hand).
#   ensure_garage        builds Garage 2.5.0 once into ~/.cache/partup (about 11 minutes), then reuses it
#   start_garage DIR     starts a one-node Garage in DIR with bucket "partup" and a key; exports
#                        PARTUP_TEST_S3_ENDPOINT/BUCKET/REGION and AWS_ACCESS_KEY_ID/SECRET; GARAGE_PID
#   garage_allow_cors ORIGIN   sets the bucket's CORS rule (PutBucketCors) for direct parts from
#                        ORIGIN's pages (README, "Direct to the store"); after start_garage
#   ensure_moto          installs moto's server (pinned) with pip
#   start_moto DIR       starts moto_server, creates bucket "partup"; exports the same variables; MOTO_PID
# Both are stopped when the calling script exits (setup.sh's stop_on_exit).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

GARAGE_VERSION=2.5.0
GARAGE_BIN="${PARTUP_CACHE:-$HOME/.cache/partup}/garage-$GARAGE_VERSION/bin/garage"
MOTO_VERSION=5.2.5

s3log() { printf '[s3] %s\n' "$*" >&2; }

ensure_garage() {
    if [ -x "$GARAGE_BIN" ] && "$GARAGE_BIN" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
        return
    fi
    s3log "building Garage $GARAGE_VERSION into $(dirname "$(dirname "$GARAGE_BIN")") (about 11 minutes, once)"
    cargo install garage --version "$GARAGE_VERSION" --locked --no-default-features \
        --features bundled-libs,sqlite,lmdb --root "$(dirname "$(dirname "$GARAGE_BIN")")"
}

start_garage() {
    local dir=$1
    mkdir -p "$dir/meta" "$dir/data"
    # Garage takes its ports from its config and does not say which it bound, so they are picked
    # here: the one place left where a port is chosen before its server binds it.
    local s3_port rpc_port admin_port
    s3_port=$(free_port); rpc_port=$(free_port); admin_port=$(free_port)
    cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
    local garage="$GARAGE_BIN -c $dir/garage.toml"
    RUST_LOG=warn $GARAGE_BIN -c "$dir/garage.toml" server > "$dir/garage.log" 2>&1 &
    GARAGE_PID=$!
    stop_on_exit "$GARAGE_PID"
    wait_for_port "$rpc_port"
    wait_for_port "$s3_port"
    local node=""
    for _ in $(seq 1 100); do
        node=$($garage node id -q 2>/dev/null | cut -d@ -f1) && [ -n "$node" ] && break
        sleep 0.1
    done
    $garage layout assign -z dc1 -c 1G "$node" > /dev/null
    $garage layout apply --version 1 > /dev/null
    $garage bucket create partup > /dev/null
    local key_info
    key_info=$($garage key create partup-tests)
    AWS_ACCESS_KEY_ID=$(echo "$key_info" | awk '/Key ID/ {print $NF}')
    AWS_SECRET_ACCESS_KEY=$(echo "$key_info" | awk '/Secret key/ {print $NF}')
    $garage bucket allow --read --write --owner partup --key partup-tests > /dev/null
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY GARAGE_PID
    export PARTUP_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" PARTUP_TEST_S3_BUCKET=partup PARTUP_TEST_S3_REGION=garage
    s3log "Garage $GARAGE_VERSION on $PARTUP_TEST_S3_ENDPOINT (bucket partup)"
}

garage_allow_cors() {
    local origin=$1 rule md5 sha
    # The rule an operator sets for direct parts (wasm-client/README.md): PUT with Content-MD5,
    # ETag readable (the client checks it against the part's MD5).
    rule="<CORSConfiguration><CORSRule><AllowedOrigin>$origin</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>content-md5</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule></CORSConfiguration>"
    md5=$(printf '%s' "$rule" | openssl md5 -binary | base64)
    sha=$(printf '%s' "$rule" | sha256sum | cut -d' ' -f1)
    # `?cors=`, not `?cors`: curl's SigV4 (7.88) signs a query key without `=` differently from
    # the store, which then refuses the signature. Garage wants the payload's SHA-256 header.
    curl -sSf -o /dev/null -X PUT --aws-sigv4 "aws:amz:$PARTUP_TEST_S3_REGION:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "Content-MD5: $md5" -H "x-amz-content-sha256: $sha" -H "Content-Type: application/xml" \
        --data-binary "$rule" "$PARTUP_TEST_S3_ENDPOINT/$PARTUP_TEST_S3_BUCKET?cors="
    # The preflight a page's PUT of a part makes must pass.
    curl -sSf -o /dev/null -X OPTIONS -H "Origin: http://127.0.0.1:8000" \
        -H "Access-Control-Request-Method: PUT" -H "Access-Control-Request-Headers: content-md5" \
        "$PARTUP_TEST_S3_ENDPOINT/$PARTUP_TEST_S3_BUCKET/cors-check?partNumber=1&uploadId=x" \
        || { s3log "the bucket's CORS rule does not let a page PUT parts"; return 1; }
    s3log "bucket $PARTUP_TEST_S3_BUCKET: CORS allows PUT from $origin"
}

ensure_moto() {
    if ! python3 -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        s3log "installing moto[server]==$MOTO_VERSION"
        python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    fi
}

start_moto() {
    local dir=$1 url
    mkdir -p "$dir"
    start_service url "$dir/moto.log" python3 -m moto.server -H 127.0.0.1 -p 0
    MOTO_PID=$SERVICE_PID
    export AWS_ACCESS_KEY_ID=partup-test AWS_SECRET_ACCESS_KEY=partup-test-secret MOTO_PID
    export PARTUP_TEST_S3_ENDPOINT="$url" PARTUP_TEST_S3_BUCKET=partup PARTUP_TEST_S3_REGION=us-east-1
    curl -sf -X PUT "$PARTUP_TEST_S3_ENDPOINT/partup" > /dev/null
    s3log "moto $MOTO_VERSION on $PARTUP_TEST_S3_ENDPOINT (bucket partup)"
}
