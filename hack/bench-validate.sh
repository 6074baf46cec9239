#!/usr/bin/env bash
# 'cairn validate' next to kubeconform on the same 10,000 manifests and the
# same schemas (cairn's, written where kubeconform looks them up).
# Usage: hack/bench-validate.sh [manifests]; RUNS sets the number of runs
# (3 by default). The last row holds each column's median.
set -euo pipefail
n=${1:-10000}
runs=${RUNS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go run ./test/bench/corpus -n "$n" -out "$dir"
go build -o "$dir/cairn" ./cmd/cairn
GOBIN="$dir" go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
loc="$dir/schemas/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json"
echo "| run | kubeconform (schemas) | cairn validate (schemas + validation) | cairn validate + 4 policies |"
echo "| --- | ---: | ---: | ---: |"
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null || true; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN{printf "%.2f", b-a}'; }
: >"$dir/times"
for i in $(seq "$runs"); do
  k=$(t "$dir/kubeconform" -schema-location "$loc" -summary -n "$(nproc)" "$dir/manifests")
  c=$(t "$dir/cairn" validate -n "$(nproc)" "$dir/manifests")
  p=$(t "$dir/cairn" validate -n "$(nproc)" --policies examples/policies "$dir/manifests")
  echo "$k $c $p" >>"$dir/times"
  printf "| %d | %s s | %s s | %s s |\n" "$i" "$k" "$c" "$p"
done
med() { cut -d' ' -f"$1" "$dir/times" | sort -n | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else printf "%.2f", (v[NR/2]+v[NR/2+1])/2}'; }
printf "| median | %s s | %s s | %s s |\n" "$(med 1)" "$(med 2)" "$(med 3)"
