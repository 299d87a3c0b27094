package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"kubently.io/libs/contracts"
)

// LabelCluster sets and removes labels of a registered cluster (admin) and
// returns its labels after the change.
func (c *Client) LabelCluster(ctx context.Context, cluster string, set map[string]string, remove []string) (map[string]string, error) {
	var out contracts.ClusterLabels
	_, err := c.do(ctx, http.MethodPost, contracts.ClusterLabelsPath(cluster), contracts.ClusterLabelRequest{Set: set, Remove: remove}, &out, false)
	return out.Labels, err
}

// FleetExecute runs one command on every cluster req selects (POST
// /v1/fleet/execute) and calls fn with each cluster's result as it
// arrives; it returns the summary. An error from fn stops reading (the
// gateway then stops starting clusters) and is returned.
func (c *Client) FleetExecute(ctx context.Context, req contracts.FleetExecuteRequest, fn func(contracts.FleetResult) error) (contracts.FleetSummary, error) {
	return c.fleet(ctx, contracts.PathFleetExecute, req, fn)
}

// FleetDiagnose diagnoses the same namespaces on every cluster req selects
// (POST /v1/fleet/diagnose), calling fn with each cluster's result as it
// arrives; it returns the summary.
func (c *Client) FleetDiagnose(ctx context.Context, req contracts.FleetDiagnoseRequest, fn func(contracts.FleetResult) error) (contracts.FleetSummary, error) {
	return c.fleet(ctx, contracts.PathFleetDiagnose, req, fn)
}

// errNoSummary: the stream ended before its summary.
var errNoSummary = errors.New("the gateway's fleet stream ended before its summary")

func (c *Client) fleet(ctx context.Context, path string, in any, fn func(contracts.FleetResult) error) (contracts.FleetSummary, error) {
	var sum contracts.FleetSummary
	b, err := json.Marshal(in)
	if err != nil {
		return sum, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, strings.NewReader(string(b)))
	if err != nil {
		return sum, err
	}
	req.Header.Set(contracts.HeaderAPIKey, c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return sum, fmt.Errorf("cannot reach the gateway at %s: %w", c.base.Redacted(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e contracts.Error
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			return sum, newAPIError(resp, &e)
		}
		return sum, fmt.Errorf("gateway answered %s: %s", resp.Status, snippet(raw))
	}
	sc := bufio.NewScanner(resp.Body)
	// A line holds one cluster's result, its output at most
	// contracts.MaxFleetOutputBytes (escaped in JSON: up to 6x) or a
	// diagnosis report.
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var probe struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &probe); err != nil {
			return sum, fmt.Errorf("malformed fleet stream line: %w", err)
		}
		switch probe.Type {
		case contracts.TypeFleetResult:
			var r contracts.FleetResult
			if err := json.Unmarshal(line, &r); err != nil {
				return sum, fmt.Errorf("malformed fleet result: %w", err)
			}
			if err := fn(r); err != nil {
				return sum, err
			}
		case contracts.TypeFleetSummary:
			if err := json.Unmarshal(line, &sum); err != nil {
				return sum, fmt.Errorf("malformed fleet summary: %w", err)
			}
			return sum, nil
		}
	}
	if err := sc.Err(); err != nil {
		return sum, fmt.Errorf("reading the fleet stream: %w", err)
	}
	return sum, errNoSummary
}
