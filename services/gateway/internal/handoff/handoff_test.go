package handoff

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
)

func command(cluster string) contracts.Command {
	return contracts.Command{ID: contracts.NewID(), Cluster: cluster, Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute).UTC()}
}

// recorder collects the answers of deliveries.
type recorder chan string

func (r recorder) delivery(cmds ...contracts.Command) *Delivery {
	return NewDelivery(cmds, func(status string) { r <- status })
}

func (r recorder) want(t *testing.T, status string) {
	t.Helper()
	select {
	case got := <-r:
		if got != status {
			t.Errorf("answer = %q; want %q", got, status)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer; want %q", status)
	}
}

func TestOffer(t *testing.T) {
	r := New()
	answers := make(recorder, 2*inboxSize)
	in, remove := r.Add("dev-1", "c1")

	if r.Offer("dev-1", "c2", answers.delivery(command("dev-1"))) {
		t.Errorf("Offer to an unknown stream = true; want false")
	}
	answers.want(t, contracts.HandOffNoStream)
	if r.Offer("prod-1", "c1", answers.delivery(command("prod-1"))) {
		t.Errorf("Offer to another cluster's stream = true; want false")
	}
	answers.want(t, contracts.HandOffNoStream)
	if r.Offer("dev-1", "c1", answers.delivery()) {
		t.Errorf("Offer of no commands = true; want false")
	}
	answers.want(t, contracts.HandOffNoStream)

	cmd := command("dev-1")
	if !r.Offer("dev-1", "c1", answers.delivery(cmd)) {
		t.Fatalf("Offer to the stream = false; want true")
	}
	d := <-in.C()
	if diff := cmp.Diff([]contracts.Command{cmd}, d.Commands); diff != "" {
		t.Errorf("delivered commands mismatch (-want +got):\n%s", diff)
	}
	d.Done()
	d.Done() // answered once
	answers.want(t, contracts.HandOffDelivered)

	// A full inbox refuses; removing the stream refuses what it holds and
	// what comes later.
	for range inboxSize {
		if !r.Offer("dev-1", "c1", answers.delivery(command("dev-1"))) {
			t.Fatalf("Offer to an inbox with room = false; want true")
		}
	}
	if r.Offer("dev-1", "c1", answers.delivery(command("dev-1"))) {
		t.Errorf("Offer to a full inbox = true; want false")
	}
	answers.want(t, contracts.HandOffNoStream)
	remove()
	for range inboxSize {
		answers.want(t, contracts.HandOffNoStream)
	}
	if r.Offer("dev-1", "c1", answers.delivery(command("dev-1"))) || r.Len() != 0 {
		t.Errorf("Offer to a removed stream = true or still registered; want false")
	}
	answers.want(t, contracts.HandOffNoStream)
	if len(answers) != 0 {
		t.Errorf("%d answers too many", len(answers))
	}
}

func TestSubscribe(t *testing.T) {
	nc := natstest.Connect(t, natstest.RunServer(t))
	r := New()
	offered := make(chan bool, 8)
	sub, err := r.Subscribe(nc, "gw-0.example.com", func(ok bool) { offered <- ok })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if _, err := r.Subscribe(nc, "gw.>", nil); err == nil {
		t.Errorf("Subscribe accepted a wildcard gateway name")
	}
	in, remove := r.Add("dev-1", "c1")
	defer remove()
	got := make(chan []contracts.Command, 1)
	go func() {
		d := <-in.C()
		got <- d.Commands
		d.Done()
	}()
	subj, _ := contracts.HandOffSubject("gw-0.example.com")
	ask := func(body any) string {
		t.Helper()
		b, _ := json.Marshal(body)
		m, err := nc.Request(subj, b, 10*time.Second)
		if err != nil {
			t.Fatalf("hand-off request: %v", err)
		}
		var rep contracts.CommandHandOffReply
		if err := json.Unmarshal(m.Data, &rep); err != nil || rep.Type != contracts.TypeCommandHandOffReply {
			t.Fatalf("reply %s: %v", m.Data, err)
		}
		return rep.Status
	}
	cmds := []contracts.Command{command("dev-1"), command("dev-1")}
	tests := []struct {
		name    string
		body    any
		want    string
		offered bool
	}{
		{"malformed", "not a hand-off", contracts.HandOffNoStream, false},
		{"another cluster's command", contracts.CommandHandOff{Type: contracts.TypeCommandHandOff, Cluster: "dev-1", ConnID: "c1",
			Commands: []contracts.Command{command("prod-1")}}, contracts.HandOffNoStream, false},
		{"unknown stream", contracts.CommandHandOff{Type: contracts.TypeCommandHandOff, Cluster: "dev-1", ConnID: "c2", Commands: cmds},
			contracts.HandOffNoStream, false},
		{"the stream", contracts.CommandHandOff{Type: contracts.TypeCommandHandOff, Cluster: "dev-1", ConnID: "c1", Commands: cmds},
			contracts.HandOffDelivered, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status := ask(tt.body); status != tt.want {
				t.Errorf("status = %q; want %q", status, tt.want)
			}
			if ok := <-offered; ok != tt.offered {
				t.Errorf("onHandOff(%v); want %v", ok, tt.offered)
			}
		})
	}
	if diff := cmp.Diff(cmds, <-got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("stream got mismatch (-want +got):\n%s", diff)
	}
}
