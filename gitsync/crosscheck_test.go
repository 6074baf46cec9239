package gitsync

import (
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/manifest"
)

func TestCrossCheck(t *testing.T) {
	const revision = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: typo, namespace: shop}
spec:
  selector: {app: wbe}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: other-ns, namespace: other}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: shop}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec:
  storageClassName: fast
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: logs, namespace: shop}
spec:
  storageClassName: local-path
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: in-git}
provisioner: example.com/x
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  serviceName: db
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {storageClassName: in-git, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  - metadata: {name: wal}
    spec: {storageClassName: missing, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`
	objs, errs := manifest.Parse("app.yaml", []byte(revision), manifest.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	live := map[string]bool{"local-path": true}
	var got []string
	for _, f := range crossCheck(objs, func(n string) bool { return live[n] }) {
		got = append(got, f.String())
	}
	want := []string{
		`app.yaml:21: Service/shop/typo: spec.selector: warning: selects no pod template of this revision in namespace shop`,
		`app.yaml:28: Service/other/other-ns: spec.selector: warning: selects no pod template of this revision in namespace other`,
		`app.yaml:41: PersistentVolumeClaim/shop/data: spec.storageClassName: warning: StorageClass "fast" is neither in this revision nor in the cluster`,
		`StatefulSet/shop/db: spec.volumeClaimTemplates[1].spec.storageClassName: warning: StorageClass "missing"`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("warning %d:\n got %s\nwant …%s…", i, got[i], want[i])
		}
	}
}
