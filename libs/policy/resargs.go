package policy

import (
	"errors"
	"strings"
)

// Errors of ParseResourceArgs and ParseTypeName. Their text is kubectl's,
// so the dispatcher's refusal and the executor's read the same.
var (
	// ErrTypeAndTypeName is returned for a type argument mixed with
	// type/name arguments ("pods pod/x").
	ErrTypeAndTypeName = errors.New("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'")
	// ErrSlashes is returned for a type/name argument with more than one
	// slash ("pods/x,secret/y", "apps/v1/deployments/web").
	ErrSlashes = errors.New("arguments in resource/name form may not have more than one slash")
	// ErrTypeName is returned for a type/name argument without a single
	// type or without a name ("/x", "pods,svc/x", "pod/").
	ErrTypeName = errors.New("arguments in resource/name form must have a single resource and name")
	// ErrNotTypeName is returned by ParseTypeName for an argument without a
	// slash where TYPE/NAME is required (events --for).
	ErrNotTypeName = errors.New("argument must be in resource/name form")
	// ErrForNotTypeName is the refusal of an events --for value without a
	// slash.
	ErrForNotTypeName = errors.New("--for must be in resource/name form")
)

// ResourceArgs is a kubectl resource argument list split the way
// cli-runtime's resource.Builder splits it, before any discovery:
// either Tuples, or Types with Names.
type ResourceArgs struct {
	// Tuples are type/name pairs ("pod/x", or "pods,svc x" expanded to
	// pods/x and svc/x).
	Tuples [][2]string
	// Types is the comma-separated type list of the first argument,
	// without empty or repeated entries.
	Types []string
	// Names are the names following the type list.
	Names []string
}

// SingleItem reports whether the arguments name exactly one object, in
// which case kubectl prints that object rather than a List.
func (a ResourceArgs) SingleItem() bool {
	if len(a.Tuples) > 0 {
		return len(a.Tuples) == 1
	}
	return len(a.Names) == 1
}

// SplitResourceList splits "pods,svc" into its types, dropping empty and
// repeated ones.
func SplitResourceList(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range strings.Split(s, ",") {
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// ParseResourceArgs applies kubectl's rules for "TYPE[,TYPE...] [NAME...]"
// and "TYPE/NAME ..." arguments (get, describe, rollout). The policy and
// the executor both use it, so the policy refuses exactly the arguments
// the executor could not run, with the same message. Errors are
// ErrTypeAndTypeName, ErrSlashes and ErrTypeName.
func ParseResourceArgs(args []string) (ResourceArgs, error) {
	if len(args) >= 2 {
		if types := SplitResourceList(args[0]); len(types) > 1 && !strings.Contains(args[0], "/") {
			var expanded []string
			for _, t := range types {
				for _, n := range args[1:] {
					expanded = append(expanded, t+"/"+n)
				}
			}
			args = expanded
		}
	}
	slashes := 0
	for _, a := range args {
		if strings.Contains(a, "/") {
			slashes++
		}
	}
	switch {
	case slashes > 0 && slashes != len(args):
		return ResourceArgs{}, ErrTypeAndTypeName
	case slashes > 0:
		var ra ResourceArgs
		for _, a := range args {
			typ, name, err := ParseTypeName(a)
			if err != nil {
				return ResourceArgs{}, err
			}
			ra.Tuples = append(ra.Tuples, [2]string{typ, name})
		}
		return ra, nil
	case len(args) == 0:
		return ResourceArgs{}, nil
	default:
		return ResourceArgs{Types: SplitResourceList(args[0]), Names: args[1:]}, nil
	}
}

// ParseTypeName splits one TYPE/NAME argument (logs, events --for, and
// each type/name argument of get, describe and rollout). It fails with
// ErrNotTypeName without a slash, ErrSlashes with more than one, and
// ErrTypeName when the type is empty or a list, or the name is empty.
func ParseTypeName(arg string) (typ, name string, err error) {
	typ, name, ok := strings.Cut(arg, "/")
	switch {
	case !ok:
		return "", "", ErrNotTypeName
	case strings.Contains(name, "/"):
		return "", "", ErrSlashes
	case typ == "" || name == "" || len(SplitResourceList(typ)) != 1 || strings.Contains(typ, ","):
		return "", "", ErrTypeName
	}
	return typ, name, nil
}
