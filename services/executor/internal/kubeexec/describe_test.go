package kubeexec

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kubently.io/services/executor/internal/readonly"
)

// kubectl's describers call the API with context.TODO(); describeConfig
// must still end their requests when the command's context ends, and keep
// them read-only.
func TestDescribeConfigHonoursContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	r, err := New(Config{REST: &rest.Config{Host: srv.URL}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := kubernetes.NewForConfig(r.describeConfig(ctx))
	if err != nil {
		t.Fatalf("NewForConfig: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := cs.CoreV1().Pods("demo").Get(context.TODO(), "x", metav1.GetOptions{})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Get after cancel: got %v; want %v", err, context.Canceled)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Get did not return after the command's context was cancelled")
	}

	err = cs.CoreV1().Pods("demo").Delete(context.Background(), "x", metav1.DeleteOptions{})
	if !errors.Is(err, readonly.ErrWriteDenied) {
		t.Fatalf("Delete through the describers' config: got %v; want %v", err, readonly.ErrWriteDenied)
	}
}
