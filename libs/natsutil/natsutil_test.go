package natsutil_test

import (
	"context"
	"errors"
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
	err = svc.AddEndpoint("echo", natsutil.Concurrent(ctx, nc, 2, func(ctx context.Context, req micro.Request) {
		ctx = natsutil.RequestContext(ctx, req)
		var in echoReq
		if err := natsutil.DecodeRequest(req, &in); err != nil {
			_ = natsutil.ReplyError(req, err)
			return
		}
		gotCorrelation.Store(in.Msg, contracts.CorrelationIDFrom(ctx))
		time.Sleep(in.Sleep)
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
		// Two slow requests fill the handler; a third is refused at once.
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				var out echoReq
				_ = request(ctx, nc, "test.echo", echoReq{Msg: "busy" + string(rune('a'+i)), Sleep: 500 * time.Millisecond}, &out)
			})
		}
		time.Sleep(100 * time.Millisecond)
		var out echoReq
		err := request(ctx, nc, "test.echo", echoReq{Msg: "third"}, &out)
		if !errors.Is(err, &contracts.Error{Code: contracts.CodeUnavailable}) {
			t.Errorf("third request = %v; want unavailable (busy)", err)
		}
		wg.Wait()
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
