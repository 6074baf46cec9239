#!/usr/bin/env bash
# 'cairn validate' next to kubeconform on the same 10,000 manifests and the
# same schemas (cairn's, written where kubeconform looks them up).
set -euo pipefail
n=${1:-10000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go run ./test/bench/corpus -n "$n" -out "$dir"
go build -o "$dir/cairn" ./cmd/cairn
GOBIN="$dir" go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
loc="$dir/schemas/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json"
echo "| run | kubeconform (schemas) | cairn validate (schemas + validation) | cairn validate + 4 policies |"
echo "| --- | ---: | ---: | ---: |"
for i in 1 2 3; do
  t() { local s e; s=$(date +%s.%N); "$@" >/dev/null || true; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN{print b-a}'; }
  k=$(t "$dir/kubeconform" -schema-location "$loc" -summary -n "$(nproc)" "$dir/manifests")
  c=$(t "$dir/cairn" validate -n "$(nproc)" "$dir/manifests")
  p=$(t "$dir/cairn" validate -n "$(nproc)" --policies examples/policies "$dir/manifests")
  printf "| %d | %.2f s | %.2f s | %.2f s |\n" "$i" "$k" "$c" "$p"
done
