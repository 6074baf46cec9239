package deployment

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/davecgh/go-spew/spew"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// ComputeHash is Kubernetes' pod-template-hash: fnv32a over the
// template's spew dump, then collisionCount when set, rendered with
// SafeEncodeString so that the hash never spells words. Matching
// Kubernetes byte for byte keeps ReplicaSet names stable across the two.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	deepHashObject(h, *template)
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// deepHashObject is Kubernetes' hashutil.DeepHashObject: spew follows
// pointers and sorts map keys, so equal objects print equally.
func deepHashObject(h hash.Hash, obj any) {
	h.Reset()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", obj)
}
