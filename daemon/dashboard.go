package daemon

import (
	_ "embed"
	"net/http"
)

// dashboardHTML is the read-only dashboard: a static page whose script
// reads the cluster through the authenticated API (members, jobs, their
// attempts, checkpoints and history) with the token the user gives it.
//
//go:embed ui/index.html
var dashboardHTML []byte

// pathDashboard is where bloomd serves the dashboard page; the page holds
// no data (that needs the token), so it is served without credentials.
const pathDashboard = "/ui/"

func handleDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(dashboardHTML)
}
