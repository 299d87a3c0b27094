package audit_test

import (
	"fmt"
	"testing"

	"kubently.io/libs/audit"
)

// BenchmarkWrite measures one synchronous, acknowledged write of a full
// command record to file storage.
func BenchmarkWrite(b *testing.B) {
	e := newEnv(b)
	w := e.writer(b, audit.WriterConfig{})
	ctx := testCtx(b)
	rec := fullRecord(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec.ID = fmt.Sprintf("bench-%d", i)
		i++
		if err := w.Write(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuery measures one page of 100 records out of 10k, with a
// subject filter (cluster) and with a payload filter (identity) that
// matches one record in two.
func BenchmarkQuery(b *testing.B) {
	e := newEnv(b)
	w := e.writer(b, audit.WriterConfig{})
	ctx := testCtx(b)
	for i := range 10000 {
		rec := fullRecord(i)
		rec.ID = fmt.Sprintf("q%05d", i)
		if i%2 == 1 {
			rec.Identity = "bob"
		}
		if err := w.Write(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	r := e.reader(b, audit.ReaderConfig{})
	for _, bm := range []struct {
		name   string
		filter audit.Filter
	}{
		{"all", audit.Filter{}},
		{"cluster", audit.Filter{Cluster: "prod-eu"}},
		{"identity", audit.Filter{Identity: "bob"}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := r.Query(ctx, bm.filter, audit.Page{Limit: 100})
				if err != nil || len(res.Records) != 100 {
					b.Fatalf("Query = %d records, %v", len(res.Records), err)
				}
			}
		})
	}
}
