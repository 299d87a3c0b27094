package kubeexec

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"kubently.io/libs/policy"
	"kubently.io/services/executor/internal/diagnose"
)

// diagnose runs `diagnose [-n NS | -A] [-o json]`: package diagnose reads
// the namespace (or the cluster) through the Runner's read-only client and
// only its findings are returned, as a readable report (or JSON) in
// Output and as a contracts.DiagnoseReport in Structured.
func (r *Runner) diagnose(inv *invocation, cmd *policy.Command) error {
	var output string
	fs := newFlagSet(cmd)
	fs.StringP("namespace", "n", "", "namespace (read from the command)")
	fs.BoolP("all-namespaces", "A", false, "every namespace (read from the command)")
	fs.StringVarP(&output, "output", "o", "", "json")
	if _, err := applyFlags(fs, cmd); err != nil {
		return err
	}
	scope := diagnose.Scope{Namespace: cmd.Namespace, All: cmd.AllNamespaces}
	if scope.Namespace == "" {
		scope.Namespace = "default"
	}
	dg, err := diagnose.New(diagnose.Config{
		Client: r.core,
		Restricts: func(group, resource string) bool {
			return r.restricts(schema.GroupResource{Group: group, Resource: resource})
		},
		Clock: r.now,
	})
	if err != nil {
		return err
	}
	rep, err := dg.Run(inv.ctx, scope)
	if err != nil {
		return err
	}
	if output == "json" {
		b, err := json.MarshalIndent(rep, "", "    ")
		if err != nil {
			return err
		}
		_, _ = inv.out.Write(append(b, '\n'))
	} else if err := rep.WriteText(inv.out, r.cluster); err != nil {
		return err
	}
	inv.setStructured(rep)
	return nil
}
