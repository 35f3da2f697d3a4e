#!/usr/bin/env bash
# Packs CompactAI, CompactAI.Hosting, CompactAI.Hybrid and CompactAI.LLamaSharp into a local folder feed, restores tests/PackageSmoke from that feed (plus nuget.org)
# in a temporary copy, runs it on stories260K and checks the greedy continuation.
#   scripts/package-smoke.sh [MODEL.gguf]        (default: $COMPACTAI_SHARED or ../shared, models/stories260K.gguf)
# Each run packs a unique pre-release version (only the package version: the assemblies are not rebuilt), so the default
# NuGet cache never serves a stale copy; the script removes that version from the cache when it ends.
set -euo pipefail
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-${COMPACTAI_SHARED:-$root/../shared}/models/stories260K.gguf}
[ -f "$model" ] || { echo "package-smoke: model '$model' not found" >&2; exit 2; }
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")

version="0.1.0-smoke.$(date -u +%Y%m%d%H%M%S).$$"
work=$(mktemp -d)
cache=${NUGET_PACKAGES:-$HOME/.nuget/packages}
cleanup() {
  rm -rf "$work" "$cache/compactai/$version" "$cache/compactai.hosting/$version" "$cache/compactai.hybrid/$version" "$cache/compactai.llamasharp/$version"
  rmdir "$cache/compactai" "$cache/compactai.hosting" "$cache/compactai.hybrid" "$cache/compactai.llamasharp" 2>/dev/null || true
}
trap cleanup EXIT

echo "== pack $version"
feed="$work/feed"
for project in src/CompactAI src/CompactAI.Hosting src/CompactAI.Hybrid src/CompactAI.LLamaSharp; do
  dotnet pack "$root/$project" -c Release -o "$feed" -p:PackageVersion="$version" -v quiet -nologo
done
for id in CompactAI CompactAI.Hosting CompactAI.Hybrid CompactAI.LLamaSharp; do
  [ -f "$feed/$id.$version.nupkg" ] || { echo "package-smoke: $id.$version.nupkg missing" >&2; exit 1; }
  [ -f "$feed/$id.$version.snupkg" ] || { echo "package-smoke: $id.$version.snupkg missing" >&2; exit 1; }
  files=$(unzip -l "$feed/$id.$version.nupkg")
  grep -q " README.md$" <<<"$files" || { echo "package-smoke: $id has no README.md" >&2; exit 1; }
  grep -q " lib/net10.0/$id.dll$" <<<"$files" || { echo "package-smoke: $id has no lib/net10.0/$id.dll" >&2; exit 1; }
  grep -q " icon.png$" <<<"$files" || { echo "package-smoke: $id has no icon.png" >&2; exit 1; }
  nuspec=$(unzip -p "$feed/$id.$version.nupkg" "$id.nuspec")
  grep -q "<icon>icon.png</icon>" <<<"$nuspec" || { echo "package-smoke: $id.nuspec names no icon" >&2; exit 1; }
  grep -q "<readme>README.md</readme>" <<<"$nuspec" || { echo "package-smoke: $id.nuspec names no readme" >&2; exit 1; }
  # The package README is written for nuget.org: no paths into this repository or its ../shared folder.
  readme=$(unzip -p "$feed/$id.$version.nupkg" README.md)
  grep -q "^# $id$" <<<"$readme" || { echo "package-smoke: $id's README is not its own (packaging/$id.md)" >&2; exit 1; }
  if grep -qE '\.\./|\]\((docs|src|samples|scripts)/' <<<"$readme"; then echo "package-smoke: $id's README links into the repository" >&2; exit 1; fi
done

echo "== restore and build PackageSmoke against the local feed"
cp -r "$root/tests/PackageSmoke" "$work/smoke"
rm -rf "$work/smoke/bin" "$work/smoke/obj"
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cp "$work/nuget.config" "$work/smoke/nuget.config"
dotnet build "$work/smoke/PackageSmoke.csproj" -c Release -p:CompactAIVersion="$version" -v quiet -nologo

echo "== run"
output=$(dotnet "$work/smoke/bin/Release/net10.0/PackageSmoke.dll" "$model")
echo "$output"
expected=", there was a little girl named Lily"
if ! grep -qF "generate: $expected" <<<"$output"; then
  echo "package-smoke: FAILED, expected the greedy continuation '$expected'" >&2
  exit 1
fi
if ! grep -qF "llamasharp: $expected" <<<"$output"; then
  echo "package-smoke: FAILED, expected the same greedy continuation through CompactAI.LLamaSharp" >&2
  exit 1
fi
grep -q "^chat: .*(8 tokens)$" <<<"$output" || { echo "package-smoke: FAILED, no chat answer through CompactAI.Hosting" >&2; exit 1; }
echo "package-smoke: OK ($version)"
grep -q "^hybrid: Local " <<<"$output" || { echo "package-smoke: FAILED, no local answer through CompactAI.Hybrid" >&2; exit 1; }
