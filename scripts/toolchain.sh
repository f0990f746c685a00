#!/usr/bin/env bash
# Builds the Pulumi CLI from Go modules (through the Go module proxy) at the version pinned in
# package-lock.json and caches it under ~/.cache/hosttune/toolchain/pulumi-<version>/bin/, beside
# the dynamic-provider plugin script. Prints the install root (the Automation API's
# PulumiCommand root, whose bin/pulumi is the CLI). A complete cache is reused as it is.
#
# Why no language host and no command plugin: this workplace's Go proxy refuses the modules
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 and
# github.com/pulumi/pulumi-command/provider (403 "not available", every version). The program
# therefore runs through the Automation API's inline mode (scripts/pulumi.ts), whose language
# server lives in-process, and hosttune's resources are dynamic providers, which need only
# the pulumi-resource-pulumi-nodejs script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lock="$here/package-lock.json"

pkgver() { node -e 'const l=require(process.argv[1]);process.stdout.write(l.packages["node_modules/"+process.argv[2]].version)' "$lock" "$1"; }
PULUMI_VERSION=$(pkgver @pulumi/pulumi)

cache=${HOSTTUNE_CACHE:-$HOME/.cache/hosttune}
root="$cache/toolchain/pulumi-$PULUMI_VERSION"
bin="$root/bin"
if [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-resource-pulumi-nodejs" ]; then
  echo "$root"; exit 0
fi
command -v go >/dev/null || { echo "toolchain: Go is required (the machine's Go toolchain) to build Pulumi offline" >&2; exit 1; }
mkdir -p "$bin"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

# Wrapper module: pkg/v3 carries replace directives, so `go install pkg@v` refuses it;
# requiring it from our own module and copying its non-local replaces works.
mkdir -p "$work/w" && cd "$work/w"
go mod init hosttune.local/toolchain >/dev/null 2>&1
go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" \
            -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
m="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION"
gomod=$(cd "$work" && GO111MODULE=on go mod download -json "$m" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).GoMod))')
# Keep replaces that point at modules (not local paths) and skip sdk's own x/text pin.
go mod edit -json "$gomod" | node -e '
  let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
    for (const r of JSON.parse(s).Replace ?? []) {
      if (!r.New.Version || r.Old.Path === "golang.org/x/text") continue;
      console.log(`${r.Old.Path}${r.Old.Version ? "@" + r.Old.Version : ""}=${r.New.Path}@${r.New.Version}`);
    }})' | while read -r rep; do go mod edit -replace="$rep"; done
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
GO
go mod tidy >&2
ld="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
echo "toolchain: building pulumi $PULUMI_VERSION (several minutes on a cold Go cache)" >&2
go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ld" -o "$bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

# The dynamic-provider plugin is a script shipped in the npm package; bundled plugins are
# looked up beside the CLI.
install -m 0755 "$here/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$bin/pulumi-resource-pulumi-nodejs"
mv "$bin/pulumi.tmp" "$bin/pulumi"
echo "$root"
