package natsutil_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
)

func TestServiceVersion(t *testing.T) {
	tests := map[string]string{
		"v1.2.3": "1.2.3", "1.2.3": "1.2.3", "dev": "0.0.0-dev", "": "0.0.0-dev",
		"abc123-dirty": "0.0.0-abc123-dirty", "v1.2": "0.0.0-1-2",
	}
	for in, want := range tests {
		if got := natsutil.ServiceVersion(in); got != want {
			t.Errorf("ServiceVersion(%q) = %q; want %q", in, got, want)
		}
	}
}

type echoReq struct {
	Msg   string        `json:"msg"`
	Sleep time.Duration `json:"sleep,omitempty"`
	// Hold keeps the handler until the test releases it.
	Hold bool `json:"hold,omitempty"`
}

// request calls the echo endpoint on subject and decodes its reply into
// out.
func request[Req any](ctx context.Context, nc *nats.Conn, subject string, req Req, out *echoReq) (err error) {
	*out, err = natsutil.Request(ctx, nc, contracts.Endpoint[Req, echoReq]{Subject: subject, ReqType: "req", RespType: "echo.v1"}, req)
	return err
}

func TestRequestReply(t *testing.T) {
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	ctx := context.Background()
	svc, err := micro.AddService(nc, micro.Config{Name: "echo", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Stop() }()
	var gotCorrelation sync.Map
	held, release := make(chan struct{}, 2), make(chan struct{})
	err = svc.AddEndpoint("echo", natsutil.Concurrent(ctx, nc, 2, func(ctx context.Context, req micro.Request) {
		ctx = natsutil.RequestContext(ctx, req)
		var in echoReq
		if err := natsutil.DecodeRequest(req, &in); err != nil {
			_ = natsutil.ReplyError(req, err)
			return
		}
		gotCorrelation.Store(in.Msg, contracts.CorrelationIDFrom(ctx))
		time.Sleep(in.Sleep)
		if in.Hold {
			held <- struct{}{}
			<-release
		}
		if in.Msg == "fail" {
			_ = natsutil.ReplyError(req, contracts.Errorf(contracts.CodeUnknownCluster, "no such cluster"))
			return
		}
		_ = natsutil.Reply(req, "echo.v1", in)
	}), micro.WithEndpointSubject("test.echo"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reply and correlation id", func(t *testing.T) {
		var out echoReq
		cctx := contracts.WithCorrelationID(ctx, "corr-1")
		if err := request(cctx, nc, "test.echo", echoReq{Msg: "hi"}, &out); err != nil || out.Msg != "hi" {
			t.Fatalf("Request = %v, %+v", err, out)
		}
		if v, _ := gotCorrelation.Load("hi"); v != "corr-1" {
			t.Errorf("handler saw correlation id %v; want corr-1", v)
		}
	})
	t.Run("error reply", func(t *testing.T) {
		var out echoReq
		err := request(ctx, nc, "test.echo", echoReq{Msg: "fail"}, &out)
		if !errors.Is(err, &contracts.Error{Code: contracts.CodeUnknownCluster}) {
			t.Fatalf("got %v; want unknown_cluster", err)
		}
	})
	t.Run("strict decoding", func(t *testing.T) {
		var out echoReq
		err := request(ctx, nc, "test.echo", map[string]any{"msg": "x", "extra": 1}, &out)
		if !errors.Is(err, &contracts.Error{Code: contracts.CodeInvalidJSON}) {
			t.Fatalf("got %v; want invalid_json", err)
		}
	})
	t.Run("no responders", func(t *testing.T) {
		var out echoReq
		err := request(ctx, nc, "test.nobody", echoReq{}, &out)
		if !errors.Is(err, &contracts.Error{Code: contracts.CodeUnavailable}) {
			t.Fatalf("got %v; want unavailable", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		var out echoReq
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		err := request(cctx, nc, "test.echo", echoReq{Msg: "slow", Sleep: time.Second}, &out)
		if !errors.Is(err, &contracts.Error{Code: contracts.CodeTimeout}) {
			t.Fatalf("got %v; want timeout", err)
		}
	})
	t.Run("bounded concurrency", func(t *testing.T) {
		// Two held requests fill the handler; a third is refused at once.
		// Each holder is sent until the handler takes it: a slot may
		// still be taken by the slow request of the subtest before.
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(release)
		for i := range 2 {
			for taken := false; !taken; {
				errc := make(chan error, 1)
				wg.Go(func() {
					var out echoReq
					errc <- request(ctx, nc, "test.echo", echoReq{Msg: fmt.Sprintf("busy%d", i), Hold: true}, &out)
				})
				select {
				case <-held:
					taken = true
				case err := <-errc:
					if !errors.Is(err, &contracts.Error{Code: contracts.CodeUnavailable}) {
						t.Fatalf("holding request = %v; want it held, or refused as busy", err)
					}
					time.Sleep(10 * time.Millisecond)
				case <-time.After(30 * time.Second):
					t.Fatal("holding request neither held nor refused within 30s")
				}
			}
		}
		var out echoReq
		err := request(ctx, nc, "test.echo", echoReq{Msg: "third"}, &out)
		if !errors.Is(err, &contracts.Error{Code: contracts.CodeUnavailable}) {
			t.Errorf("third request = %v; want unavailable (busy)", err)
		}
	})
}

func TestConnectGivesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := natsutil.Connect(ctx, "nats://user:secret@127.0.0.1:1", "t", logging.Discard())
	if err == nil {
		t.Fatal("Connect to a dead server = nil error")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}
