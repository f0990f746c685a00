#!/usr/bin/env bash
# Builds the Pulumi CLI from Go modules (through the Go module proxy) at the version of the
# installed @pulumi/pulumi (pinned by package-lock.json) and caches it under
# ~/.cache/hosttune/toolchain/pulumi-<version>/bin/, beside the plugins it needs. Prints the install root (the Automation API's
# PulumiCommand root, whose bin/pulumi is the CLI). A complete cache is reused as it is.
#
# The Node.js language host: this workplace's Go proxy refuses the module
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 (403, every version), so
# scripts/plugins/pulumi-language-nodejs (a small Node host over the SDK's own program runner) is
# installed beside the CLI, where the CLI finds bundled plugins without a PATH warning.
# pulumi-command's provider is refused too; hosttune's resources are dynamic providers, which
# need only the dynamic-provider plugin: scripts/plugins/pulumi-resource-pulumi-nodejs, which runs the
# SDK's own as its npm package's shim does, and starts faster.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# The SDK this project (or the program that installed hosttune) resolves: the CLI matches it.
sdk=$(cd "$here" && node -p 'require("path").dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [process.cwd()] }))')
PULUMI_VERSION=$(node -p 'require(process.argv[1]).version' "$sdk/package.json")

cache=${HOSTTUNE_CACHE:-$HOME/.cache/hosttune}
root="$cache/toolchain/pulumi-$PULUMI_VERSION"
bin="$root/bin"
# Every file of scripts/plugins/ goes beside the CLI (the plugins load each other from there).
install_plugins() {
  for f in "$here"/scripts/plugins/*; do
    cmp -s "$f" "$bin/${f##*/}" || install -m 0755 "$f" "$bin/${f##*/}"
  done
}
if [ -x "$bin/pulumi" ]; then
  install_plugins; echo "$root"; exit 0
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

install_plugins
mv "$bin/pulumi.tmp" "$bin/pulumi"
echo "$root"
