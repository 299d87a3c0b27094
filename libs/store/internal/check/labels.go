package check

import (
	"fmt"
	"maps"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

// LabelEdit checks the arguments of ClusterLabels.LabelCluster.
func LabelEdit(id string, set map[string]string, remove []string) error {
	if err := Cluster(id); err != nil {
		return err
	}
	if len(set)+len(remove) > contracts.MaxLabelEdits {
		return fmt.Errorf("%w: %d label changes: at most %d", store.ErrInvalid, len(set)+len(remove), contracts.MaxLabelEdits)
	}
	for k, v := range set {
		if err := contracts.ValidateLabel(k, v); err != nil {
			return wrap(err)
		}
	}
	for _, k := range remove {
		if err := contracts.ValidateLabelKey(k); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// ApplyLabels returns cur with set applied and remove removed (cur is not
// changed); ErrInvalid if the result has more than
// contracts.MaxClusterLabels labels.
func ApplyLabels(cur, set map[string]string, remove []string) (map[string]string, error) {
	out := maps.Clone(cur)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, set)
	for _, k := range remove {
		delete(out, k)
	}
	if len(out) > contracts.MaxClusterLabels {
		return nil, fmt.Errorf("%w: %d labels: at most %d per cluster", store.ErrInvalid, len(out), contracts.MaxClusterLabels)
	}
	return out, nil
}
