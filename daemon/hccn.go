package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"bloom/daemon/sched"
)

// ReadDeviceIPs reads the addresses of the NPUs in devices from the
// hccn.conf at path (HCCL's device_ip for rank tables across servers), as
// Config.DeviceIPs. A node without NPUs reads nothing. A missing file is an
// error only when the path was named (bloomd join's --hccn-conf): the
// default /etc/hccn.conf is absent on a single server, which needs none,
// so that is a warning, as is an NPU the file has no address for.
func ReadDeviceIPs(devices, path string, named bool, log *slog.Logger) (string, error) {
	npus := sched.NPUIndices(devices)
	if len(npus) == 0 {
		return "", nil
	}
	conf, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !named {
		log.Warn("no hccn.conf: rank tables of NPU jobs across nodes cannot name this node's NPUs' device_ip, so none are written "+
			"(configure the NPUs' NICs with hccn_tool, or name the file with --hccn-conf)", "path", path)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("--hccn-conf: %w", err)
	}
	ips, err := sched.HCCNDeviceIPs(conf, npus)
	if err != nil {
		return "", fmt.Errorf("--hccn-conf %s: %w", path, err)
	}
	if n := strings.Count(ips, "="); n < len(npus) {
		log.Warn("hccn.conf has no address for some of this node's NPUs: rank tables across nodes need one for each", "path", path, "npus", len(npus), "addresses", n)
	}
	return ips, nil
}
