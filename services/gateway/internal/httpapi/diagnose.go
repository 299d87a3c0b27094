package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
)

// diagnoseArgvs turns a diagnose request into the executor commands that
// answer it: one `diagnose -n NS` per namespace, or `diagnose -A`. Each
// one then takes the path of any command (role, scopes, policy, audit,
// bridge), so a namespace-scoped key diagnoses only its namespaces.
func diagnoseArgvs(body contracts.DiagnoseRequest) ([][]string, error) {
	nss := body.Namespaces
	if body.Namespace != "" {
		if len(nss) > 0 {
			return nil, contracts.Errorf(contracts.CodeBadRequest, "give namespace or namespaces, not both")
		}
		nss = []string{body.Namespace}
	}
	if body.AllNamespaces {
		if len(nss) > 0 {
			return nil, contracts.Errorf(contracts.CodeBadRequest, "all_namespaces cannot be combined with namespace or namespaces")
		}
		return [][]string{{"diagnose", "-A"}}, nil
	}
	if len(nss) > contracts.MaxDiagnoseNamespaces {
		return nil, contracts.Errorf(contracts.CodeBadRequest, "at most %d namespaces per diagnosis; got %d", contracts.MaxDiagnoseNamespaces, len(nss))
	}
	if len(nss) == 0 {
		nss = []string{"default"}
	}
	seen := map[string]bool{}
	out := make([][]string, 0, len(nss))
	for _, ns := range nss {
		if err := contracts.ValidateID("namespace", ns); err != nil {
			return nil, err
		}
		if !seen[ns] {
			seen[ns] = true
			out = append(out, []string{"diagnose", "-n", ns})
		}
	}
	return out, nil
}

// diagnose serves POST /v1/diagnose: it runs the diagnose command in the
// cluster's executor for each namespace asked (one after the other) and
// merges the findings into one report.
func (s *Server) diagnose(c echo.Context) error {
	var body contracts.DiagnoseRequest
	if err := decodeBody(c, &body, false); err != nil {
		return writeError(c, err)
	}
	if err := contracts.ValidateID("cluster", body.Cluster); err != nil {
		return writeError(c, err)
	}
	argvs, err := diagnoseArgvs(body)
	if err != nil {
		return writeError(c, err)
	}
	timeout, err := timeoutFrom(c, body.TimeoutSeconds)
	if err != nil {
		return writeError(c, err)
	}
	if timeout == 0 {
		timeout = contracts.DefaultDiagnoseTimeoutSeconds
	}
	rep, err := s.diagnoseCluster(c, body.Cluster, argvs, timeout, body.AllNamespaces)
	if bg, ok := errors.AsType[*badGateway](err); ok {
		return c.JSON(http.StatusBadGateway, bg.e)
	}
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, rep)
}

// badGateway is a diagnosis the executor failed or answered with no
// report: 502 with the error's body.
type badGateway struct{ e *contracts.Error }

func (b *badGateway) Error() string { return b.e.Message }

// diagnoseCluster runs argvs (diagnoseArgvs) on one cluster, one after
// the other, through the path of any command (s.run), and merges the
// findings into one report. A denial, timeout or transport failure is
// the *contracts.Error to answer with; an executor failure or a result
// without a report is a *badGateway.
func (s *Server) diagnoseCluster(c echo.Context, cluster string, argvs [][]string, timeout int, all bool) (contracts.DiagnoseReport, error) {
	rep := contracts.DiagnoseReport{Type: contracts.TypeDiagnoseReport, Cluster: cluster, AllNamespaces: all,
		Findings: []contracts.Finding{}}
	for _, argv := range argvs {
		res, err := s.run(c, cluster, "", argv, timeout)
		if err != nil {
			return rep, err
		}
		switch res.Status {
		case contracts.StatusSuccess:
		case contracts.StatusDenied:
			return rep, &contracts.Error{Code: contracts.CodeCommandDenied, Reason: res.Reason, Message: res.Error}
		case contracts.StatusTimeout:
			return rep, contracts.Errorf(contracts.CodeTimeout, "diagnose %s timed out after %ds (command %s); diagnose fewer namespaces or raise timeout_seconds", argvString(argv[1:]), timeout, res.CommandID)
		default:
			return rep, &badGateway{&contracts.Error{Code: contracts.CodeInternal,
				Message: "diagnose " + argvString(argv[1:]) + " failed in the executor (command " + res.CommandID + "): " + res.Error}}
		}
		var part contracts.DiagnoseReport
		if err := json.Unmarshal(res.Structured, &part); err != nil || part.Type != contracts.TypeDiagnoseReport {
			return rep, &badGateway{&contracts.Error{Code: contracts.CodeInternal,
				Message: "the executor returned no diagnosis report (command " + res.CommandID + "); it may predate the diagnose verb"}}
		}
		rep.Namespaces = append(rep.Namespaces, part.Namespaces...)
		rep.CommandIDs = append(rep.CommandIDs, res.CommandID)
		rep.Merge(part)
	}
	return rep, nil
}

func argvString(argv []string) string {
	b, _ := json.Marshal(argv)
	return string(b)
}
