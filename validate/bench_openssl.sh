#!/usr/bin/env bash
# Times `smtptls validate` beside `openssl verify -CAfile bundle cert` (the
# well-known gateway's check) on the benchmark fixtures, as processes.
# The in-process figures are: go test -run '^$' -bench . ./validate
# Needs hyperfine (apt-get install hyperfine) and openssl.
set -euo pipefail
cd "$(dirname "$0")"
bin=$(mktemp -d)/smtptls
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ../cmd/smtptls
cd testdata/bench
hyperfine -N --warmup 5 --runs "${RUNS:-100}" --style basic \
  'openssl version' "$bin --help" \
  'openssl verify -CAfile ca.pem cert.pem' \
  "$bin validate --cert cert.pem --key key.pem --ca ca.pem" \
  'openssl verify -CAfile ca150.pem cert.pem' \
  "$bin validate --cert cert.pem --key key.pem --ca ca150.pem"
