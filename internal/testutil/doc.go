// Package testutil is the test plumbing every package's tests share:
// waiting for a condition with a deadline instead of sleeping, and failing
// a test whose goroutines outlive it.
//
// What it owns: the polling loop (Poll, WaitFor) and the goroutine leak
// checks (CheckLeaks at a test's end, NoLeaks at a point of the caller's
// choosing), each with the deadline its caller names; the comparison of an
// output file with its reference (SameFile); and the tests' logger
// (Logger: BLOOM_TEST_LOG=1 with -v shows what the code under test logs).
//
// Only _test.go files import it (layering_test.go checks that no package's
// own code does), and it imports nothing of this project.
//
// Usage:
//
//	func TestCluster(t *testing.T) {
//		testutil.CheckLeaks(t, 10*time.Second) // first: it checks after every later cleanup
//		c := startCluster(t)
//		took := testutil.WaitFor(t, 30*time.Second, "a leader", func() bool { return c.leader() != nil })
//		t.Logf("leader after %v", took)
//	}
package testutil
