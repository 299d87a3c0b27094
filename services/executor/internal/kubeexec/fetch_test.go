package kubeexec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	got, ok := decodeTable([]byte(tableBody))
	if !ok {
		t.Fatal("decodeTable: not a Table")
	}
	if err := decodeRows(got, rowsFull); err != nil {
		t.Fatal(err)
	}
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, []byte(tableBody))
	if err != nil {
		t.Fatal(err)
	}
	want, ok, err := asTable(obj)
	if !ok || err != nil {
		t.Fatalf("asTable: ok=%v err=%v", ok, err)
	}
	if err := decodeRows(want, rowsFull); err != nil {
		t.Fatal(err)
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
		if _, ok := decodeTable([]byte(body)); ok {
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

// Rows are decoded only as far as the output needs: not at all for plain
// table output, into PartialObjectMetadata for the namespace and label
// columns (read through meta.Accessor, as kubectl's printer reads them,
// with the values the unstructured decoding gives), and with the
// unstructured scheme for --sort-by and for full objects.
func TestDecodeRows(t *testing.T) {
	const body = `{"kind":"Table","apiVersion":"meta.k8s.io/v1","columnDefinitions":[{"name":"Name","type":"string"}],"rows":[` +
		`{"cells":["web-1"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web","tier":"front"},` +
		`"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{}}}]}}},` +
		`{"cells":["web-2"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1beta1","metadata":{"name":"web-2","namespace":"demo"}}},` +
		`{"cells":["web-3"],"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-3","namespace":"shop"},"spec":{"nodeName":"n1"}}},` +
		`{"cells":["web-4"],"object":null}]}`
	decode := func(need int) *metav1.Table {
		t.Helper()
		table, ok := decodeTable([]byte(body))
		if !ok {
			t.Fatal("decodeTable: not a Table")
		}
		if err := decodeRows(table, need); err != nil {
			t.Fatal(err)
		}
		return table
	}
	for i, row := range decode(rowsUnused).Rows {
		if row.Object.Object != nil {
			t.Errorf("rowsUnused: row %d decoded to %T; want it left raw", i, row.Object.Object)
		}
	}
	meta, full := decode(rowsMetadata), decode(rowsFull)
	wantTypes := []string{"*v1.PartialObjectMetadata", "*v1.PartialObjectMetadata", "*unstructured.Unstructured", "<nil>"}
	for i := range meta.Rows {
		got, want := meta.Rows[i].Object.Object, full.Rows[i].Object.Object
		if typ := fmt.Sprintf("%T", got); typ != wantTypes[i] {
			t.Errorf("rowsMetadata: row %d decoded to %s; want %s", i, typ, wantTypes[i])
		}
		if want == nil {
			continue
		}
		if _, ok := want.(*unstructured.Unstructured); !ok {
			t.Errorf("rowsFull: row %d decoded to %T; want *unstructured.Unstructured", i, want)
		}
		g, err := apimeta.Accessor(got)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if _, partial := got.(*metav1.PartialObjectMetadata); partial && g.GetManagedFields() != nil {
			t.Errorf("row %d: managedFields %v kept; want them skipped", i, g.GetManagedFields())
		}
		w, _ := apimeta.Accessor(want)
		if g.GetName() != w.GetName() || g.GetNamespace() != w.GetNamespace() || !reflect.DeepEqual(g.GetLabels(), w.GetLabels()) {
			t.Errorf("row %d: metadata %s/%s %v; want %s/%s %v", i, g.GetNamespace(), g.GetName(), g.GetLabels(), w.GetNamespace(), w.GetName(), w.GetLabels())
		}
	}
	for _, tt := range []struct {
		o    getOptions
		want int
	}{
		{getOptions{}, rowsUnused},
		{getOptions{output: outWide, showKind: true, noHeaders: true}, rowsUnused},
		{getOptions{allNamespaces: true}, rowsMetadata},
		{getOptions{showLabels: true}, rowsMetadata},
		{getOptions{labelColumns: []string{"app"}}, rowsMetadata},
		{getOptions{sortBy: ".metadata.name", allNamespaces: true}, rowsFull},
	} {
		if got := rowObjects(tt.o); got != tt.want {
			t.Errorf("rowObjects(%+v) = %d; want %d", tt.o, got, tt.want)
		}
	}
}

// BenchmarkDecodeTable compares read's decoding of a Table, with its rows'
// objects decoded as each output needs them, with the unstructured scheme
// plus the conversion it replaced.
func BenchmarkDecodeTable(b *testing.B) {
	body := namespacesTable(20)
	for _, bb := range []struct {
		name string
		need int
	}{
		{"rows unused", rowsUnused},
		{"rows metadata", rowsMetadata},
		{"rows unstructured", rowsFull},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				table, ok := decodeTable(body)
				if !ok {
					b.Fatal("not a Table")
				}
				if err := decodeRows(table, bb.need); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("unstructured", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, body)
			if err != nil {
				b.Fatal(err)
			}
			table, ok, err := asTable(obj)
			if !ok || err != nil {
				b.Fatal(ok, err)
			}
			if err := decodeRows(table, rowsFull); err != nil {
				b.Fatal(err)
			}
		}
	})
}
