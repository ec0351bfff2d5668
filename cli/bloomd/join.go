package bloomd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/cli"
	"bloom/daemon"
	"bloom/daemon/identity"
	"bloom/npu/acl"
)

// joinContext is cancelled when bloomd should stop (SIGINT, SIGTERM);
// tests replace it.
var joinContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func joinCommand() *ucli.Command {
	def := daemon.DefaultConfig()
	host, _ := os.Hostname()
	env := func(name string) []string { return []string{"BLOOMD_" + name} }
	return &ucli.Command{
		Name:  "join",
		Usage: "run the daemon in the foreground: join the cluster, take part in Raft, serve the API",
		Description: "Joins through any live --peers address, bootstraps Raft once when --bootstrap-expect\n" +
			"servers are seen, and runs until SIGINT or SIGTERM. Then it drains: the jobs with workers\n" +
			"here checkpoint at the next step and stop (at most --drain-timeout; a second signal cuts it\n" +
			"short), it hands leadership over, leaves, and exits; the jobs resume from that checkpoint.\n" +
			"Restart it with the same --name and --data-dir to rejoin with its Raft log. `bloomctl\n" +
			"rollout` asks each daemon in turn to do all of that and start itself again.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Value: host, Usage: "this node's unique, stable `NAME`", EnvVars: env("NAME")},
			&ucli.StringFlag{Name: "data-dir", Usage: "`DIR` for this node's state: its identity (node.json), the Raft log and snapshots, the peers it knew, job logs and, unless a job names --save, checkpoints", EnvVars: env("DATA_DIR")},
			&ucli.StringFlag{Name: "bind", Value: def.Bind, Usage: "gossip `HOST:PORT` (UDP and TCP)", EnvVars: env("BIND")},
			&ucli.StringFlag{Name: "advertise", Usage: "gossip `HOST:PORT` peers dial, when --bind is 0.0.0.0 (a host name is resolved once, at start)", EnvVars: env("ADVERTISE")},
			&ucli.StringFlag{Name: "api", Value: def.API, Usage: "HTTPS API `HOST:PORT` (Raft shares it)", EnvVars: env("API")},
			&ucli.StringFlag{Name: "peers", Usage: "gossip addresses to join through, comma-separated `HOST:PORT,...` (host names are resolved at start; one that does not resolve is skipped)", EnvVars: env("PEERS")},
			&ucli.StringFlag{Name: "secret-file", Usage: "the cluster secret `FILE` (bloomd keygen)", EnvVars: env("SECRET_FILE")},
			&ucli.IntFlag{Name: "bootstrap-expect", Usage: "bootstrap Raft when `N` servers are seen (same N on those servers)", EnvVars: env("BOOTSTRAP_EXPECT")},
			&ucli.StringFlag{Name: "devices", Value: def.Devices, Usage: "devices offered: cpu:N, or Ascend NPUs npu:0-7 (npu:0,2,4; npu:all: every NPU the ACL runtime counts)", EnvVars: env("DEVICES")},
			&ucli.StringFlag{Name: "hccn-conf", Value: "/etc/hccn.conf", Usage: "the NPUs' NIC configuration `FILE` (hccn_tool's address_<id>= and IPv6address_<id>= lines): each NPU's device_ip, which HCCL rank tables across nodes need; read only with npu devices", EnvVars: env("HCCN_CONF")},
			&ucli.StringFlag{Name: "job-roots", Usage: "confine the paths jobs name (--save, --load, --data-path, --tokenizer-name-or-path, --task-data-path, --tensorboard-dir) to these comma-separated `DIR,...`; without it a job reads and writes any path this bloomd's user can (the API token is then as good as a shell as that user)", EnvVars: env("JOB_ROOTS")},
			&ucli.DurationFlag{Name: "join-timeout", Value: def.JoinTimeout, Usage: "give up joining --peers after this long", EnvVars: env("JOIN_TIMEOUT")},
			&ucli.DurationFlag{Name: "drain-timeout", Value: 2 * time.Minute, Usage: "on SIGTERM, wait this long for the jobs here to checkpoint and stop", EnvVars: env("DRAIN_TIMEOUT")},
			&ucli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json", EnvVars: env("LOG_FORMAT")},
			&ucli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: env("LOG_LEVEL")},
		},
		Action: runJoin,
	}
}

// runJoin runs the daemon until a signal or a restart request, drains it,
// stops it, and on a restart request executes bloomd again.
func runJoin(c *ucli.Context) error {
	cfg, err := joinConfig(c)
	if err != nil {
		return err
	}
	ctx, stop := joinContext()
	defer stop()
	d, err := daemon.Start(cfg)
	if err != nil {
		return err
	}
	restart := false
	select {
	case <-ctx.Done():
	case <-d.RestartRequested():
		restart = true
	}
	drain(d, c.Duration("drain-timeout"), cfg.Logger)
	cfg.Logger.Info("stopping: handing over leadership and leaving", "restart", restart)
	if err := d.Stop(); err != nil || !restart {
		return err
	}
	return reexec(cfg, d)
}

// drain lets the jobs here checkpoint and stop, for at most timeout or
// until another SIGINT/SIGTERM.
func drain(d *daemon.Daemon, timeout time.Duration, log *slog.Logger) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() { // ends with ctx, which drain cancels on return
		select {
		case <-sig:
			log.Warn("second signal: stopping without waiting for the checkpoint")
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := d.Drain(ctx); err != nil {
		log.Warn("drain incomplete: the jobs resume from their last committed checkpoint", "err", err)
	}
}

// reexec starts this bloomd again in this process (a rolling restart picks
// up a new binary at the same path), with the ports it had: ports given as
// 0 are pinned to the ones the kernel chose, so peers find it again.
func reexec(cfg daemon.Config, d *daemon.Daemon) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	args := append([]string(nil), os.Args...)
	for _, p := range []struct{ flag, given, actual string }{{"--bind", cfg.Bind, d.GossipAddr()}, {"--api", cfg.API, d.APIAddr()}} {
		if pinned, ok := pinPort(p.given, p.actual); ok {
			args = append(args, p.flag, pinned)
		}
	}
	cfg.Logger.Info("restarting", "exe", exe)
	return syscall.Exec(exe, args, os.Environ())
}

// pinPort returns given with port 0 replaced by actual's port.
func pinPort(given, actual string) (string, bool) {
	h, p, err := net.SplitHostPort(given)
	_, ap, err2 := net.SplitHostPort(actual)
	if err != nil || err2 != nil || p != "0" {
		return "", false
	}
	return net.JoinHostPort(h, ap), true
}

// joinConfig is the daemon's configuration from join's flags, validated.
func joinConfig(c *ucli.Context) (daemon.Config, error) {
	cfg := daemon.DefaultConfig()
	if c.String("secret-file") == "" {
		return cfg, fmt.Errorf("--secret-file is required (make one with `bloomd keygen --out FILE`)")
	}
	s, err := identity.LoadSecret(c.String("secret-file"))
	if err != nil {
		return cfg, err
	}
	cfg.Secret = s
	cfg.Name, cfg.DataDir = c.String("name"), c.String("data-dir")
	cfg.Bind, cfg.API = c.String("bind"), c.String("api")
	if cfg.Logger, err = newLogger(c); err != nil {
		return cfg, err
	}
	if a := c.String("advertise"); a != "" {
		if cfg.Advertise, err = resolveHostPort(a); err != nil {
			return cfg, fmt.Errorf("--advertise: %w", err)
		}
	}
	for _, p := range strings.Split(c.String("peers"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		ip, err := resolveHostPort(p)
		if err != nil { // not started yet (a container): it joins us instead
			cfg.Logger.Warn("a peer's name does not resolve: skipped", "peer", p, "err", err)
			continue
		}
		cfg.Peers = append(cfg.Peers, ip)
	}
	cfg.BootstrapExpect = c.Int("bootstrap-expect")
	if cfg.Devices, err = resolveDevices(c.String("devices"), acl.DeviceCount); err != nil {
		return cfg, err
	}
	if cfg.DeviceIPs, err = daemon.ReadDeviceIPs(cfg.Devices, c.String("hccn-conf"), c.IsSet("hccn-conf"), cfg.Logger); err != nil {
		return cfg, err
	}
	cfg.JoinTimeout, cfg.Version, cfg.Restartable = c.Duration("join-timeout"), cli.Version, true
	for _, r := range strings.Split(c.String("job-roots"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Jobs.Roots = append(cfg.Jobs.Roots, r)
		}
	}
	return cfg, cfg.Validate()
}

// resolveHostPort is a HOST:PORT whose host is a name (a container's
// service name, a DNS name) as IP:PORT, with the first address the
// resolver gives, IPv4 first; an IP address or a malformed value passes
// through unchanged for the daemon's checks to judge.
func resolveHostPort(a string) (string, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil || h == "" || net.ParseIP(h) != nil {
		return a, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", h)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("%s: cannot resolve %s: %v", a, h, err)
	}
	slices.SortStableFunc(ips, func(x, y net.IP) int { return b2i(x.To4() == nil) - b2i(y.To4() == nil) })
	return net.JoinHostPort(ips[0].String(), p), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newLogger is the daemon's logger on standard error, in --log-format at
// --log-level.
func newLogger(c *ucli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "json":
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.String("log-format"))
}
