package kubeexec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// tableBody is a Table as the API server sends it for get pods.
const tableBody = `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"42","continue":"c1","remainingItemCount":3},
"columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"","priority":0},
{"name":"Restarts","type":"integer","format":"","description":"","priority":0},
{"name":"Ratio","type":"number","format":"","description":"","priority":1}],
"rows":[{"cells":["web-1",3,0.5],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"}}}},
{"cells":["web-2",12345678901,1.0],"object":null}]}`

// The one-pass Table decoding gives what the unstructured scheme plus
// asTable gave, number types included.
func TestDecodeTableMatchesUnstructured(t *testing.T) {
	got, ok, err := decodeTable([]byte(tableBody))
	if !ok || err != nil {
		t.Fatalf("decodeTable: ok=%v err=%v", ok, err)
	}
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, []byte(tableBody))
	if err != nil {
		t.Fatal(err)
	}
	want, ok, err := asTable(obj)
	if !ok || err != nil {
		t.Fatalf("asTable: ok=%v err=%v", ok, err)
	}
	// Raw bytes differ in layout (re-encoded vs as sent); the decoded
	// objects must not.
	if len(got.Rows) != len(want.Rows) {
		t.Fatalf("rows %d; want %d", len(got.Rows), len(want.Rows))
	}
	for i := range got.Rows {
		if !reflect.DeepEqual(got.Rows[i].Cells, want.Rows[i].Cells) {
			t.Errorf("row %d cells %#v; want %#v", i, got.Rows[i].Cells, want.Rows[i].Cells)
		}
		if !reflect.DeepEqual(got.Rows[i].Object.Object, want.Rows[i].Object.Object) {
			t.Errorf("row %d object %#v; want %#v", i, got.Rows[i].Object.Object, want.Rows[i].Object.Object)
		}
		got.Rows[i].Object.Raw, want.Rows[i].Object.Raw = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeTable = %#v\nwant %#v", got, want)
	}
	if continueToken(got) != "c1" {
		t.Errorf("continue token %q; want c1", continueToken(got))
	}
	if table, ok, _ := asTable(got); !ok || table != got {
		t.Error("asTable does not pass a decoded Table through")
	}
}

// A body that is not a Table is left to the unstructured scheme.
func TestDecodeTableNotATable(t *testing.T) {
	for _, body := range []string{
		`{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a"}}]}`,
		`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"},"spec":{"containers":[]}}`,
		`{"kind":"Table","apiVersion":"v1","rows":[]}`,
		`not json`,
	} {
		if _, ok, _ := decodeTable([]byte(body)); ok {
			t.Errorf("decodeTable(%s) ok; want not a Table", body)
		}
	}
}

// namespacesTable returns a Table like the one the API server sends for
// get namespaces: n rows, each with its object's metadata.
func namespacesTable(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"1234"},"columnDefinitions":[` +
		`{"name":"Name","type":"string","format":"name","description":"Name must be unique within a namespace.","priority":0},` +
		`{"name":"Status","type":"string","format":"","description":"The status of the namespace","priority":0},` +
		`{"name":"Age","type":"string","format":"","description":"CreationTimestamp is a timestamp.","priority":0}],"rows":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"cells":["ns-%d","Active","%dd"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",`+
			`"metadata":{"name":"ns-%d","uid":"6f1c2b9e-0000-4000-8000-%012d","resourceVersion":"%d","creationTimestamp":"2026-12-01T10:00:00Z",`+
			`"labels":{"kubernetes.io/metadata.name":"ns-%d"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1",`+
			`"time":"2026-12-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/metadata.name":{}}}}}]}}}`,
			i, i, i, i, 100+i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkDecodeTable compares read's one-pass decoding of a Table with
// the unstructured scheme plus the conversion it replaced.
func BenchmarkDecodeTable(b *testing.B) {
	body := namespacesTable(20)
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := decodeTable(body); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("unstructured", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, body)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok, err := asTable(obj); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
