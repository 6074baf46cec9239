// Command corpus writes a corpus of Kubernetes manifests, and cairn's JSON
// Schemas named as kubeconform looks them up, for comparing `cairn
// validate` with kubeconform on the same files and the same schemas.
//
//	go run ./test/bench/corpus -n 10000 -out DIR
//
// DIR/manifests holds the manifests (100 documents a file), DIR/schemas
// the schemas: kubeconform -schema-location 'DIR/schemas/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json'.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn/schema"
)

const docsPerFile = 100

func main() {
	n := flag.Int("n", 10000, "manifests to write")
	out := flag.String("out", "", "output directory (required)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "corpus: -out is required")
		os.Exit(2)
	}
	if err := run(*n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "corpus:", err)
		os.Exit(1)
	}
}

func run(n int, out string) error {
	mdir, sdir := filepath.Join(out, "manifests"), filepath.Join(out, "schemas")
	for _, d := range []string{mdir, sdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	v := schema.New()
	for _, gvk := range v.Kinds() {
		data, err := v.Schema(gvk)
		if err != nil {
			return err
		}
		group := gvk.Group
		if group == "" {
			group = gvk.Version // kubeconform's .Group of "v1" is "v1"
		}
		name := fmt.Sprintf("%s-%s-%s.json", strings.ToLower(gvk.Kind), group, gvk.Version)
		if err := os.WriteFile(filepath.Join(sdir, name), data, 0o644); err != nil {
			return err
		}
	}
	var b strings.Builder
	file := 0
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := os.WriteFile(filepath.Join(mdir, fmt.Sprintf("m%04d.yaml", file)), []byte(b.String()), 0o644)
		b.Reset()
		file++
		return err
	}
	for i := 0; i < n; i++ {
		b.WriteString("---\n")
		b.WriteString(manifest(i))
		if (i+1)%docsPerFile == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// manifest i of the corpus: Deployments, Services, ConfigMaps, Pods and
// StatefulSets in turn, all valid, with labels and resource limits.
func manifest(i int) string {
	name := fmt.Sprintf("app-%05d", i)
	switch i % 5 {
	case 0:
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: team-%[2]d
  labels: {app: %[1]s, tier: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s, tier: web}
    spec:
      containers:
      - name: web
        image: registry.example:5000/shop/web:1.%[2]d.0
        ports:
        - {name: http, containerPort: 8080}
        env:
        - {name: MODE, value: production}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 256Mi}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
`, name, i%17)
	case 1:
		return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: team-%[2]d
  labels: {app: %[1]s}
spec:
  selector: {app: %[1]s}
  ports:
  - {name: http, port: 80, targetPort: http}
`, name, i%17)
	case 2:
		return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s
  namespace: team-%[2]d
  labels: {app: %[1]s}
data:
  config.yaml: |
    listen: :8080
    workers: %[2]d
`, name, i%17)
	case 3:
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  namespace: team-%[2]d
  labels: {app: %[1]s}
spec:
  containers:
  - name: job
    image: busybox:1.36
    command: ["sh", "-c", "echo hello"]
    resources:
      limits: {cpu: 100m, memory: 64Mi}
`, name, i%17)
	default:
		return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
  namespace: team-%[2]d
  labels: {app: %[1]s}
spec:
  serviceName: %[1]s
  replicas: 2
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: db
        image: postgres:16.4
        resources:
          limits: {cpu: "1", memory: 1Gi}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 10Gi}
`, name, i%17)
	}
}
