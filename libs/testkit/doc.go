// Package testkit holds the helpers every Kubently test package shares:
// polling for a condition (CheckFor), a buffer safe for concurrent writers
// (SyncBuffer), free local ports, and running a binary as a child process
// whose output is kept (StartProc). It imports only the standard library,
// so any module's tests may use it without pulling in anything else.
//
// # Usage
//
//	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
//		if n := s.count(); n != 3 {
//			return fmt.Errorf("count = %d; want 3", n)
//		}
//		return nil
//	})
//
//	p := testkit.StartProc(t, testkit.ProcConfig{Name: "gateway", Path: bin, Env: env})
//
// # Concurrency
//
// SyncBuffer and Proc are safe for concurrent use. CheckFor and StartProc
// must be called from the test's goroutine, as t.Fatal requires.
package testkit
