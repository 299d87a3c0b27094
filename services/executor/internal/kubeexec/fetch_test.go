package kubeexec

import (
	"reflect"
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
