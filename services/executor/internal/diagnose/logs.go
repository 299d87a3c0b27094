package diagnose

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"kubently.io/libs/contracts"
)

// maxLogBytes caps the bytes read from one log.
const maxLogBytes = 64 << 10

// readLogs searches the log tail of one pod per finding that names one
// (crashloops, restarts, failed Jobs), at most Config.MaxLogReads in all,
// and keeps only the error lines as evidence.
func (a *analysis) readLogs(ctx context.Context) {
	for _, g := range a.groups {
		if g.logPod == "" || a.logsLeft <= 0 || ctx.Err() != nil {
			continue
		}
		a.logsLeft--
		a.logCalls++
		tail := a.d.cfg.LogTailLines
		limit := int64(maxLogBytes)
		body, err := a.d.cfg.Client.CoreV1().Pods(g.owner.Namespace).GetLogs(g.logPod, &corev1.PodLogOptions{
			Container: g.logContainer, Previous: g.logPrevious, TailLines: &tail, LimitBytes: &limit,
		}).DoRaw(ctx)
		which := "log"
		if g.logPrevious {
			which = "previous log"
		}
		obj := "Pod/" + g.logPod
		if err != nil {
			g.addEvidence(contracts.Evidence{Source: "log", Object: obj, Field: g.logContainer, Value: which + " not readable: " + firstLine(err.Error())})
			continue
		}
		lines := errorLines(string(body), 5)
		if len(lines) == 0 {
			g.addEvidence(contracts.Evidence{Source: "log", Object: obj, Field: g.logContainer + " (" + which + ")",
				Value: fmt.Sprintf("no error-looking line in its last %d lines", tail)})
			continue
		}
		g.addEvidence(contracts.Evidence{Source: "log", Object: obj, Field: g.logContainer + " (" + which + ", error lines)", Value: strings.Join(lines, "\n")})
	}
}
