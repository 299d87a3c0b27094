package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"kubently.io/libs/contracts"
)

// benchClients is how many clients BenchmarkRoundTripParallel runs per
// GOMAXPROCS (b.SetParallelism): 6, so 12 on a 2-core machine, below the
// test executor's queue of 16 (more would be refused busy).
const benchClients = 6

// BenchmarkRoundTripParallel measures throughput under concurrency: many
// clients at once run `get namespaces`, first straight to the apiserver
// (direct), then through Kubently (kubently), and each reports commands
// per second (cmds/s; ns/op is its inverse). Compare the two within one
// run; vary the clients with -cpu (benchClients per CPU).
func BenchmarkRoundTripParallel(b *testing.B) {
	s := startStack(b, false)
	cs := directClient(b)
	b.Run("direct", func(b *testing.B) {
		b.SetParallelism(benchClients)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := directGetNamespaces(context.Background(), cs); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
	})
	b.Run("kubently", func(b *testing.B) {
		b.SetParallelism(benchClients)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := execute(s.url, "get", "namespaces"); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
	})
}

// execute runs argv on the live cluster through POST /v1/execute at url
// and returns an error unless it succeeded.
func execute(url string, argv ...string) error {
	body, err := json.Marshal(map[string]any{"cluster_id": live, "argv": argv})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, url+"/v1/execute", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(contracts.HeaderAPIKey, aliceKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res contracts.CommandResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err
	}
	if res.Status != contracts.StatusSuccess {
		return fmt.Errorf("%s: %+v", resp.Status, res)
	}
	return nil
}
