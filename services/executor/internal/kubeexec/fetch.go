package kubeexec

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// Accept headers for the three shapes a read can come back in.
var (
	// acceptTable asks for the server-side Table, as kubectl get does, and
	// falls back to the plain object for servers that cannot render one.
	acceptTable = strings.Join([]string{
		"application/json;as=Table;v=v1;g=meta.k8s.io",
		"application/json;as=Table;v=v1beta1;g=meta.k8s.io",
		"application/json",
	}, ",")
	acceptJSON = "application/json"
	// acceptMetadata asks for metadata only, for -o name and describe
	// lists; read sends the list or the object form of it as needed, since
	// the server refuses a list type for a single object.
	acceptMetadata       = "metadata"
	acceptMetadataList   = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
	acceptMetadataObject = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"
)

// tableGVKs are the Table kinds the server may answer with.
var tableGVKs = map[schema.GroupVersionKind]bool{
	metav1.SchemeGroupVersion.WithKind("Table"):      true,
	metav1beta1.SchemeGroupVersion.WithKind("Table"): true,
}

// readRequest describes one GET or LIST call.
type readRequest struct {
	mapping   *meta.RESTMapping
	namespace string // already adjusted with namespaceFor
	name      string // "" lists
	accept    string
	opts      metav1.ListOptions // for lists
	// includeObject asks a Table for full objects ("Object") rather than
	// their metadata, for --sort-by.
	includeObject string
}

// read performs req and decodes the answer: a *metav1.Table when a Table
// was asked for and came back, else with the unstructured scheme (an
// Unstructured object or an UnstructuredList).
func (r *Runner) read(ctx context.Context, req readRequest) (runtime.Object, int, error) {
	gv := req.mapping.GroupVersionKind.GroupVersion()
	rr := r.raw.Get().AbsPath(apiPrefix(gv))
	if req.namespace != "" {
		rr = rr.Namespace(req.namespace)
	}
	accept := req.accept
	if accept == acceptMetadata {
		accept = acceptMetadataList
		if req.name != "" {
			accept = acceptMetadataObject
		}
	}
	rr = rr.Resource(req.mapping.Resource.Resource).SetHeader("Accept", accept)
	if req.includeObject != "" {
		rr = rr.Param("includeObject", req.includeObject)
	}
	if req.name != "" {
		rr = rr.Name(req.name)
	} else {
		rr = rr.VersionedParams(&req.opts, metav1.ParameterCodec)
	}
	res := rr.Do(ctx)
	body, err := res.Raw()
	if err != nil {
		// Error decodes a Status body into a typed API error, as kubectl
		// reports it ("pods \"x\" not found").
		return nil, 0, res.Error()
	}
	if req.accept == acceptTable {
		if table, ok := decodeTable(body); ok {
			return table, len(body), nil
		}
	}
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, body)
	if err != nil {
		return nil, len(body), fmt.Errorf("decoding the server's answer for %s: %w", req.mapping.Resource.Resource, err)
	}
	return obj, len(body), nil
}

// decodeTable decodes a Table answer straight into metav1.Table, in one
// pass (the unstructured scheme would build a map, convert it by
// reflection and re-encode every row's object). The objects of its rows
// stay raw until makePage decodes what the output needs (decodeRows).
// Numbers in cells come out as int64 or float64, as with the unstructured
// scheme. ok is false when body is not a Table (a server that could not
// render one), for the caller to decode it as something else.
func decodeTable(body []byte) (*metav1.Table, bool) {
	table := &metav1.Table{}
	if err := utiljson.Unmarshal(body, table); err != nil || !tableGVKs[table.GroupVersionKind()] {
		return nil, false
	}
	return table, true
}

// What the output needs of the objects of a Table's rows.
const (
	// rowsUnused: nothing reads them (kubectl's printer reads a row's
	// object only for the namespace and label columns).
	rowsUnused = iota
	// rowsMetadata: the printer reads their namespace and labels.
	rowsMetadata
	// rowsFull: --sort-by evaluates a JSONPath on them, as kubectl
	// does on the unstructured objects.
	rowsFull
)

// rowObjects returns what the output of get with o needs of the objects
// of Table rows.
func rowObjects(o getOptions) int {
	switch {
	case o.sortBy != "":
		return rowsFull
	case o.allNamespaces || o.showLabels || len(o.labelColumns) > 0:
		return rowsMetadata
	}
	return rowsUnused
}

// partialGVs are the versions of PartialObjectMetadata a Table's rows carry.
var partialGVs = map[string]bool{
	metav1.SchemeGroupVersion.String():      true,
	metav1beta1.SchemeGroupVersion.String(): true,
}

// partialRow is the PartialObjectMetadata of a Table row as the printer
// reads it: without its managedFields, the bulk of most objects' metadata,
// which no column shows.
type partialRow struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct {
		metav1.ObjectMeta
		// ManagedFields shadows ObjectMeta's: the decoder skips it.
		ManagedFields skipped `json:"managedFields"`
	} `json:"metadata"`
}

// skipped is a JSON value decoded into nothing.
type skipped struct{}

// UnmarshalJSON implements json.Unmarshaler.
func (*skipped) UnmarshalJSON([]byte) error { return nil }

// decodeRows decodes the objects of table's rows that are still raw JSON,
// as need says: not at all for rowsUnused; a PartialObjectMetadata into
// its type, without managedFields, for rowsMetadata (the printer reads it
// through meta.Accessor, as it reads an Unstructured); anything else with the unstructured
// scheme, as kubectl get does.
func decodeRows(table *metav1.Table, need int) error {
	if need == rowsUnused {
		return nil
	}
	for i := range table.Rows {
		row := &table.Rows[i]
		if row.Object.Raw == nil || row.Object.Object != nil {
			continue
		}
		if need == rowsMetadata {
			var partial partialRow
			if err := utiljson.Unmarshal(row.Object.Raw, &partial); err == nil &&
				partial.Kind == "PartialObjectMetadata" && partialGVs[partial.APIVersion] {
				row.Object.Object = &metav1.PartialObjectMetadata{TypeMeta: partial.TypeMeta, ObjectMeta: partial.Metadata.ObjectMeta}
				continue
			}
		}
		converted, err := runtime.Decode(unstructured.UnstructuredJSONScheme, row.Object.Raw)
		if err != nil {
			return fmt.Errorf("decoding table row: %w", err)
		}
		row.Object.Object = converted
	}
	return nil
}

// asTable converts a decoded Table into metav1.Table, the way kubectl get
// does before printing; the objects of its rows stay raw (decodeRows).
// ok is false when obj is not a Table.
func asTable(obj runtime.Object) (*metav1.Table, bool, error) {
	if table, ok := obj.(*metav1.Table); ok {
		return table, true, nil // decoded by read
	}
	u, isUnstructured := obj.(*unstructured.Unstructured)
	if !isUnstructured || !tableGVKs[u.GroupVersionKind()] {
		return nil, false, nil
	}
	table := &metav1.Table{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, table); err != nil {
		return nil, true, fmt.Errorf("decoding table: %w", err)
	}
	return table, true, nil
}

// listItems returns the items of a decoded list or the object itself.
func listItems(obj runtime.Object) []*unstructured.Unstructured {
	switch t := obj.(type) {
	case *unstructured.UnstructuredList:
		out := make([]*unstructured.Unstructured, len(t.Items))
		for i := range t.Items {
			out[i] = &t.Items[i]
		}
		return out
	case *unstructured.Unstructured:
		return []*unstructured.Unstructured{t}
	}
	return nil
}

// continueToken returns the continue token of a list or table.
func continueToken(obj runtime.Object) string {
	switch t := obj.(type) {
	case *metav1.Table:
		return t.Continue
	case *unstructured.UnstructuredList:
		return t.GetContinue()
	case *unstructured.Unstructured:
		c, _, _ := unstructured.NestedString(t.Object, "metadata", "continue")
		return c
	}
	return ""
}

// rowWidth estimates the printed width of a table row: each visible cell
// plus the three spaces of padding the table printer puts after it. It
// errs low (columns are padded to their widest cell), so reading never
// stops before the output is really full.
func rowWidth(row metav1.TableRow, cols []metav1.TableColumnDefinition, wide bool) int {
	n := 1
	for i, c := range row.Cells {
		if i >= len(cols) {
			break
		}
		if cols[i].Priority != 0 && !wide {
			continue
		}
		switch v := c.(type) {
		case string:
			n += len(v) + 3
		case nil:
			n += 3
		default:
			n += len(fmt.Sprint(v)) + 3
		}
	}
	return n
}
