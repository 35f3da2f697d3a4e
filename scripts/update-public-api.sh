#!/usr/bin/env bash
# Regenerates a project's PublicAPI.Unshipped.txt (Microsoft.CodeAnalysis.PublicApiAnalyzers) from the build's RS0016
# diagnostics: every public symbol not in PublicAPI.Shipped.txt is listed, sorted, so the file is the project's whole new
# public surface. Review the diff: it is the API change. Moving lines to PublicAPI.Shipped.txt at a release is by hand.
#   scripts/update-public-api.sh [--add] PROJECT_DIR...       e.g. scripts/update-public-api.sh --add src/CompactAI
# --add first gives a project that has no baseline yet the analyzer reference and empty PublicAPI.*.txt files.
set -euo pipefail
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
root=$(cd "$(dirname "$0")/.." && pwd)
analyzer_version=4.14.0
add=false
[ "${1:-}" = "--add" ] && { add=true; shift; }
[ $# -gt 0 ] || { echo "usage: $0 [--add] PROJECT_DIR..." >&2; exit 2; }

for dir in "$@"; do
  dir=$(cd "$dir" && pwd)
  csproj=$(ls "$dir"/*.csproj 2>/dev/null | head -n 1)
  [ -n "$csproj" ] || { echo "update-public-api: no .csproj in $dir" >&2; exit 2; }
  if ! grep -q "Microsoft.CodeAnalysis.PublicApiAnalyzers" "$csproj"; then
    $add || { echo "update-public-api: $csproj has no PublicApiAnalyzers reference (run with --add)" >&2; exit 2; }
    python3 - "$csproj" "$analyzer_version" <<'PY'
import sys
path, version = sys.argv[1], sys.argv[2]
s = open(path).read()
block = f'''  <!-- Public API baseline: a change to the public surface must be declared in PublicAPI.*.txt (scripts/update-public-api.sh). -->
  <PropertyGroup>
    <!-- RS0026/RS0027 forbid overloads that each take optional parameters; registration and load overloads follow the
         Microsoft.Extensions style and have them. -->
    <NoWarn>$(NoWarn);RS0026;RS0027</NoWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.CodeAnalysis.PublicApiAnalyzers" Version="{version}" PrivateAssets="all" />
    <AdditionalFiles Include="PublicAPI.Shipped.txt" />
    <AdditionalFiles Include="PublicAPI.Unshipped.txt" />
  </ItemGroup>
'''
i = s.rindex('</Project>')
open(path, 'w').write(s[:i] + block + s[i:])
PY
    echo "update-public-api: added the analyzer to $csproj"
  fi
  [ -f "$dir/PublicAPI.Shipped.txt" ] || printf '#nullable enable\n' > "$dir/PublicAPI.Shipped.txt"
  printf '#nullable enable\n' > "$dir/PublicAPI.Unshipped.txt"

  log=$(mktemp)
  # Warnings must stay warnings here. The references build incrementally; this project's analyzers run again (no incremental skip).
  dotnet build "$csproj" -p:TreatWarningsAsErrors=false -p:WarningsAsErrors= -nologo -v quiet >/dev/null 2>&1 || true
  dotnet build "$csproj" --no-incremental -p:BuildProjectReferences=false -p:TreatWarningsAsErrors=false -p:WarningsAsErrors= \
    -nologo -v quiet >"$log" 2>&1 || true
  name=$(basename "$csproj")
  # "file(l,c): warning RS0016: Symbol 'API LINE' is not part of the declared public API (...) [project.csproj]"
  python3 - "$log" "$name" "$dir/PublicAPI.Unshipped.txt" <<'PY'
import re, sys
log, project, out = sys.argv[1:]
pattern = re.compile(r"warning RS0016: Symbol '(.*)' is not part of the declared public API")
symbols = set()
errors = []
for line in open(log, encoding='utf-8', errors='replace'):
    if not line.rstrip().endswith(project + ']'):
        continue
    m = pattern.search(line)
    if m:
        symbols.add(m.group(1))
    elif ': error ' in line:
        errors.append(line.strip())
if errors:
    sys.stderr.write('update-public-api: the build failed:\n' + '\n'.join(sorted(set(errors))[:20]) + '\n')
    sys.exit(1)
with open(out, 'w', encoding='utf-8', newline='\n') as f:
    f.write('#nullable enable\n')
    for s in sorted(symbols, key=lambda s: (s.lstrip('~').replace('const ', '').replace('static ', '').replace('override ', '').replace('abstract ', '').replace('virtual ', ''), s)):
        f.write(s + '\n')
print(f'update-public-api: {out}: {len(symbols)} symbols')
PY
  rm -f "$log"
done
