package daemon

import (
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"bloom/daemon/coord"
	"bloom/membership"
)

// reconcile is the leader's autopilot pass (Consul's leader.go and
// raft-autopilot's StablePromoter, in small):
//
//  1. every alive server in gossip that is not in the Raft configuration is
//     added as a non-voter (a changed address is re-added);
//  2. the replicated member registry follows gossip's metadata;
//  3. non-voters alive and heartbeating for StabilizationTime are promoted
//     while there are fewer than MaxVoters, keeping the count odd;
//  4. a voter dead or left for DeadServerGrace is removed once at least
//     three (or MaxVoters) live voters remain without it; a dead non-voter
//     is removed after the same grace. Nobody is removed during the first
//     LeaderGrace of a leadership.
func (d *Daemon) reconcile() {
	fut := d.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		d.log.Warn("reconcile: raft configuration", "err", err)
		return
	}
	conf := fut.Configuration()
	members := d.ml.Members()
	byName := make(map[string]membership.Member, len(members))
	for _, m := range members {
		byName[m.Name] = m
	}
	d.addMissing(conf, members)
	d.syncRegistry(conf, byName)
	d.manageVoters(conf, byName)
}

func live(m membership.Member) bool {
	return m.State == membership.StateAlive || m.State == membership.StateSuspect
}

func (d *Daemon) addMissing(conf raft.Configuration, members []membership.Member) {
	in := map[string]raft.Server{}
	for _, s := range conf.Servers {
		in[string(s.ID)] = s
	}
	mine := d.clusterID()
	for _, m := range members {
		if m.Name == d.cfg.Name || m.State != membership.StateAlive || m.Meta.Raft == "" ||
			(m.Meta.Cluster != "" && m.Meta.Cluster != mine) {
			continue
		}
		s, ok := in[m.Name]
		if ok && string(s.Address) == m.Meta.Raft {
			continue
		}
		if ok {
			d.log.Info("server address changed; re-adding", "server", m.Name, "old", string(s.Address), "new", m.Meta.Raft)
			if err := d.raft.RemoveServer(s.ID, 0, d.cfg.ApplyTimeout).Error(); err != nil {
				d.log.Warn("remove server", "server", m.Name, "err", err)
				continue
			}
		}
		// A new replication stream starts with no failures and reports no
		// "resumed" observation: forget failures of an earlier membership.
		d.forgetFailures(m.Name)
		err := d.raft.AddNonvoter(raft.ServerID(m.Name), raft.ServerAddress(m.Meta.Raft), 0, d.cfg.ApplyTimeout).Error()
		d.log.Info("added non-voter", "server", m.Name, "addr", m.Meta.Raft, "err", err)
	}
}

// syncRegistry keeps coord's member registry equal to gossip's metadata for
// the servers in the configuration.
func (d *Daemon) syncRegistry(conf raft.Configuration, byName map[string]membership.Member) {
	var want []coord.Member
	d.fsm.read(func(s *coord.State) {
		for _, srv := range conf.Servers {
			m, ok := byName[string(srv.ID)]
			if !ok || !live(m) {
				continue
			}
			cm := coord.Member{Name: m.Name, RaftAddr: m.Meta.Raft, APIAddr: m.Meta.API, QUICAddr: m.Meta.QUIC,
				Devices: m.Meta.Devices, DeviceIPs: m.Meta.DeviceIPs, Version: m.Meta.Version}
			if old, ok := s.Members[m.Name]; ok {
				cm.Since = old.Since
				if *old == cm {
					continue
				}
			}
			want = append(want, cm)
		}
	})
	for _, m := range want {
		if err := d.Apply(coord.UpsertMember{Member: m}); err != nil {
			d.log.Warn("register member", "member", m.Name, "err", err)
		}
	}
}

func (d *Daemon) forgetFailures(id string) {
	d.mu.Lock()
	delete(d.failing, id)
	d.mu.Unlock()
}

func (d *Daemon) manageVoters(conf raft.Configuration, byName map[string]membership.Member) {
	now := time.Now()
	mayRemove := now.Sub(d.leaderSince) >= d.cfg.LeaderGrace
	goneLongEnough := func(id string) bool {
		m, ok := byName[id]
		if !ok {
			return now.Sub(d.leaderSince) >= d.cfg.DeadServerGrace
		}
		return !live(m) && now.Sub(m.Since) >= d.cfg.DeadServerGrace
	}
	d.mu.Lock()
	failing := make(map[string]bool, len(d.failing))
	for k, v := range d.failing {
		failing[k] = v
	}
	d.mu.Unlock()

	liveVoters := 0
	var deadVoters, candidates []raft.Server
	for _, s := range conf.Servers {
		id := string(s.ID)
		m, seen := byName[id]
		alive := id == d.cfg.Name || (seen && live(m))
		switch {
		case s.Suffrage == raft.Voter && alive:
			liveVoters++
		case s.Suffrage == raft.Voter:
			if goneLongEnough(id) {
				deadVoters = append(deadVoters, s)
			}
		case alive && !failing[id]:
			if _, ok := d.healthy[id]; !ok {
				d.healthy[id] = now
			}
			if now.Sub(d.healthy[id]) >= d.cfg.StabilizationTime {
				candidates = append(candidates, s)
			}
		default:
			delete(d.healthy, id)
			if mayRemove && goneLongEnough(id) {
				err := d.raft.RemoveServer(s.ID, 0, d.cfg.ApplyTimeout).Error()
				d.log.Info("removed dead non-voter", "server", id, "err", err)
			}
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].ID < candidates[j].ID })
	want := min(d.cfg.MaxVoters, liveVoters+len(candidates))
	if want%2 == 0 {
		want--
	}
	for _, s := range candidates[:max(0, min(len(candidates), want-liveVoters))] {
		err := d.raft.AddVoter(s.ID, s.Address, 0, d.cfg.ApplyTimeout).Error()
		d.log.Info("promoted to voter", "server", string(s.ID), "err", err)
		if err == nil {
			liveVoters++
			delete(d.healthy, string(s.ID))
		}
	}
	if !mayRemove {
		return
	}
	for _, s := range deadVoters {
		if liveVoters < min(3, d.cfg.MaxVoters) {
			return // keep it: a restart brings it back, removal would not help quorum
		}
		err := d.raft.RemoveServer(s.ID, 0, d.cfg.ApplyTimeout).Error()
		d.log.Info("removed dead voter", "server", string(s.ID), "err", err)
	}
}
