package collective

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"syscall"
	"testing"
)

// BenchmarkHop is one hop, 16 MiB messages from one end to the other over
// loopback, both ends in this process: the quic transport's link (as
// configured by DefaultConfig) beside plain TCP and TLS 1.3 over TCP, the
// floors it is measured against (issue 20). Besides MB/s it reports CPU
// nanoseconds per byte, both ends together, which drifts less than the rate
// when other work shares the cores. Run the three in one invocation and
// read ratios: go test -run - -bench Hop -count 3 ./collective/
func BenchmarkHop(b *testing.B) {
	const size = 16 << 20
	b.Run("tcp", func(b *testing.B) { hopStream(b, size, false) })
	b.Run("tls", func(b *testing.B) { hopStream(b, size, true) })
	b.Run("quic", func(b *testing.B) { hopQUIC(b, size) })
}

// cpuSeconds is this process's CPU time so far, user and system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// hopRun times b.N messages of size bytes, send and recv run at once.
func hopRun(b *testing.B, size int, send, recv func() error) {
	b.SetBytes(int64(size))
	b.ResetTimer()
	cpu0 := cpuSeconds()
	errc := make(chan error, 1)
	go func() {
		for range b.N {
			if err := recv(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range b.N {
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N)/float64(size), "cpu-ns/B")
}

// hopStream is the TCP (and, with useTLS, TLS over TCP) floor.
func hopStream(b *testing.B, size int, useTLS bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	out, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	in := <-accepted
	if in == nil {
		b.Fatal("accept failed")
	}
	if useTLS {
		cfg := testTLS(b).Clone()
		cfg.ServerName, cfg.MinVersion = "bloom-collective", tls.VersionTLS13
		out, in = tls.Client(out, cfg), tls.Server(in, cfg)
	}
	defer out.Close()
	defer in.Close()
	src, dst := make([]byte, size), make([]byte, size)
	hopRun(b, size, func() error {
		_, err := out.Write(src)
		return err
	}, func() error {
		_, err := io.ReadFull(in, dst)
		return err
	})
}

// hopQUIC is the collective's own link: Send on rank 0, Recv on rank 1.
func hopQUIC(b *testing.B, size int) {
	cfg := DefaultConfig()
	cfg.Transport, cfg.TLS = "quic", testTLS(b)
	comms := cluster(b, cfg, 2)
	ctx := context.Background()
	src, dst := make([]byte, size), make([]byte, size)
	hopRun(b, size, func() error {
		return comms[0].Send(ctx, src, size, Uint8, 1)
	}, func() error {
		return comms[1].Recv(ctx, dst, size, Uint8, 0)
	})
}
