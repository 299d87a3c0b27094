package kubeexec

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/jsonpath"
)

// maxSortObjects bounds how many objects get --sort-by reads: sorting needs
// all of them in memory at once. Config.MaxSortBytes bounds their size.
const maxSortObjects = 20000

// sortFirstPage is the page size of the first list call of a sorted get:
// later pages are sized from the bytes per object seen so far, so that
// one page cannot overshoot the byte budget by more than about one
// object.
const sortFirstPage = 50

// sortHint says how to get a list that is too large to sort.
const sortHint = "narrow with -l, --field-selector or a namespace, or drop --sort-by and page with --chunk-size and --continue"

// errTooManyToSort is returned when --sort-by would need more than
// maxSortObjects objects.
var errTooManyToSort = fmt.Errorf("too many objects to sort with --sort-by (more than %d); %s", maxSortObjects, sortHint)

// tooLargeToSort is the error of a sorted get whose answers passed the
// byte budget.
func tooLargeToSort(read, budget int64) error {
	return fmt.Errorf("too much to sort with --sort-by: the list is larger than the executor's sort budget of %d bytes (%d read before stopping); %s", budget, read, sortHint)
}

// sortLimit is the page size of the next list call of a sorted get that
// read bytes in objects so far, with budget bytes allowed and chunk the
// page size asked for: enough objects of the average size seen to reach
// just past the budget, at least 1 and at most chunk.
func sortLimit(chunk, bytes, objects, budget int64) int64 {
	if objects == 0 || bytes == 0 {
		return min(chunk, sortFirstPage)
	}
	per := max(bytes/objects, 1)
	return max(min(chunk, (budget-bytes)/per+1), 1)
}

// acquireSort waits for one of the Runner's sort slots (Config.
// MaxConcurrentSorts), so that only so many sorted lists are in memory at
// once. The caller calls release when done with the objects.
func (r *Runner) acquireSort(inv *invocation) (release func(), err error) {
	if r.sortSlots == nil {
		return func() {}, nil // a Runner not made by New
	}
	select {
	case r.sortSlots <- struct{}{}:
		return func() { <-r.sortSlots }, nil
	default:
	}
	select {
	case r.sortSlots <- struct{}{}:
		return func() { <-r.sortSlots }, nil
	case <-inv.ctx.Done():
		return nil, fmt.Errorf("waited for %d other --sort-by commands to finish until the deadline: %w", cap(r.sortSlots), inv.ctx.Err())
	}
}

// sortFieldRegexp accepts the forms kubectl accepts for --sort-by:
// name1.name2, .name1.name2, {name1.name2} and {.name1.name2}.
var sortFieldRegexp = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

// sortExpression turns a --sort-by value into a JSONPath template.
func sortExpression(field string) (*jsonpath.JSONPath, error) {
	m := sortFieldRegexp.FindStringSubmatch(strings.TrimSpace(field))
	if m == nil {
		return nil, errors.New("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'")
	}
	spec := m[1]
	if spec == "" {
		spec = m[2]
	}
	p := jsonpath.New("sorting").AllowMissingKeys(true)
	if err := p.Parse("{." + spec + "}"); err != nil {
		return nil, fmt.Errorf("sorting error: %w", err)
	}
	return p, nil
}

// sortKey is the first value the sort path finds in one object, or nil.
func sortKey(p *jsonpath.JSONPath, obj runtime.Object) (any, bool, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u == nil {
		return nil, false, nil
	}
	res, err := p.FindResults(u.Object)
	if err != nil {
		return nil, false, err
	}
	if len(res) == 0 || len(res[0]) == 0 {
		return nil, false, nil
	}
	v := res[0][0]
	if !v.IsValid() || ((v.Kind() == reflect.Interface || v.Kind() == reflect.Map || v.Kind() == reflect.Slice) && v.IsNil()) {
		return nil, true, nil
	}
	return v.Interface(), true, nil
}

// sortOrder returns the order of n objects sorted by the values p finds
// in them; objects without the field come first, like kubectl. It fails
// when no object has the field or when two values cannot be compared.
//
// kubectl's own sorters (get.RuntimeSort, get.TableSorter) are not used:
// on a value they cannot compare (a map, a bool, two kinds of number)
// they call klog.Exitf, which would end the executor on a user's
// --sort-by, and RuntimeSort parses the JSONPath again on every
// comparison. Their algorithm is kept instead: sort.Sort (not stable) over
// the objects in the API's order with an equivalent Less, so that equal
// keys end in kubectl's order too.
func sortOrder(p *jsonpath.JSONPath, field string, n int, object func(int) runtime.Object) ([]int, error) {
	keys := make([]any, n)
	found := false
	for i := 0; i < n; i++ {
		k, ok, err := sortKey(p, object(i))
		if err != nil {
			return nil, fmt.Errorf("sorting by %s: %w", field, err)
		}
		keys[i] = k
		found = found || ok
	}
	if n > 0 && !found {
		return nil, fmt.Errorf("couldn't find any field with path %q in the list of objects", field)
	}
	var cmpErr error
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Sort(keyOrder{order: order, keys: keys, err: &cmpErr, field: field})
	if cmpErr != nil {
		return nil, cmpErr
	}
	return order, nil
}

// keyOrder sorts order by keys, as kubectl's sorters sort objects:
// swapping both, so that Less sees the same sequence of swaps kubectl's
// sort.Sort makes.
type keyOrder struct {
	order []int
	keys  []any
	err   *error
	field string
}

// Len implements sort.Interface.
func (k keyOrder) Len() int { return len(k.order) }

// Swap implements sort.Interface.
func (k keyOrder) Swap(i, j int) {
	k.order[i], k.order[j] = k.order[j], k.order[i]
	k.keys[i], k.keys[j] = k.keys[j], k.keys[i]
}

// Less implements sort.Interface; the first comparison error is kept.
func (k keyOrder) Less(i, j int) bool {
	less, err := lessValue(k.keys[i], k.keys[j])
	if err != nil && *k.err == nil {
		*k.err = fmt.Errorf("field %s is an unsortable type: %w", k.field, err)
	}
	return less
}

// lessValue orders two JSON values the way kubectl's sorter does for
// unstructured objects: numbers numerically, quantities ("100Mi") by size,
// other strings bytewise, false before true, lists element by element, and
// missing values first.
func lessValue(a, b any) (bool, error) {
	switch {
	case a == nil && b == nil:
		return false, nil
	case a == nil:
		return true, nil
	case b == nil:
		return false, nil
	}
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa < fb, nil
		}
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			break
		}
		qa, errA := resource.ParseQuantity(x)
		qb, errB := resource.ParseQuantity(y)
		if errA == nil && errB == nil {
			return qa.Cmp(qb) < 0, nil
		}
		return x < y, nil
	case bool:
		if y, ok := b.(bool); ok {
			return !x && y, nil
		}
	case []any:
		y, ok := b.([]any)
		if !ok {
			break
		}
		for i := 0; i < len(x) && i < len(y); i++ {
			if l, err := lessValue(x[i], y[i]); err != nil || l {
				return l, err
			}
			if l, err := lessValue(y[i], x[i]); err != nil || l {
				return false, err
			}
		}
		return len(x) < len(y), nil
	}
	return false, fmt.Errorf("cannot compare %T with %T", a, b)
}

// number returns v as a float64 if it is a JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	return 0, false
}

// sortPages sorts what get read by --sort-by: the rows of each resource
// type's table (merging that type's pages into one), or all objects for
// -o json, yaml and name, as kubectl does.
func sortPages(o getOptions, pages []page) ([]page, error) {
	p, err := sortExpression(o.sortBy)
	if err != nil {
		return nil, err
	}
	switch o.output {
	case outTable, outWide:
		var merged []page
		for _, pg := range pages {
			n := len(merged)
			if pg.table != nil && n > 0 && merged[n-1].table != nil && merged[n-1].mapping.Resource == pg.mapping.Resource {
				merged[n-1].table.Rows = append(merged[n-1].table.Rows, pg.table.Rows...)
				continue
			}
			merged = append(merged, pg)
		}
		for _, pg := range merged {
			if pg.table == nil {
				continue
			}
			rows := pg.table.Rows
			order, err := sortOrder(p, o.sortBy, len(rows), func(i int) runtime.Object { return rows[i].Object.Object })
			if err != nil {
				return nil, err
			}
			sorted := make([]metav1.TableRow, len(rows))
			for i, j := range order {
				sorted[i] = rows[j]
			}
			pg.table.Rows = sorted
		}
		return merged, nil
	default:
		// One page per object, so that -o name keeps each object's kind.
		var items []page
		for _, pg := range pages {
			for _, it := range pg.items {
				items = append(items, page{mapping: pg.mapping, items: []*unstructured.Unstructured{it}})
			}
		}
		order, err := sortOrder(p, o.sortBy, len(items), func(i int) runtime.Object { return items[i].items[0] })
		if err != nil {
			return nil, err
		}
		out := make([]page, len(items))
		for i, j := range order {
			out[i] = items[j]
		}
		return out, nil
	}
}

// sortBudget is the byte budget of one sorted get (Config.MaxSortBytes).
func (r *Runner) sortBudget() int64 {
	if r.maxSortBytes <= 0 {
		return DefaultMaxSortBytes
	}
	return r.maxSortBytes
}
