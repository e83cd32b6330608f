#!/usr/bin/env bash
# Builds the Pulumi CLI pinned in tools/go.mod into tools/bin/pulumi, for the
# integration tests of internal/stackops (they look for it there).
# The version is stamped because the Automation API refuses a CLI whose
# version it cannot read.
# --if-needed: do nothing when tools/bin/pulumi already is the pinned version.
set -euo pipefail
cd "$(dirname "$0")"

version=$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
if [ "${1:-}" = "--if-needed" ] && [ -x bin/pulumi ] &&
  [ "$(PULUMI_SKIP_UPDATE_CHECK=true bin/pulumi version 2>/dev/null)" = "$version" ]; then
  exit 0
fi
mkdir -p bin
echo "building pulumi ${version} into tools/bin/ (cold: a few minutes; cached afterwards)"
go build -trimpath \
  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${version}" \
  -o bin/pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
bin/pulumi version
