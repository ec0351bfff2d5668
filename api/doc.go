// Package api is the contract between bloomctl and bloomd: the JSON wire
// types of the HTTPS API, the decoders that check a request before the
// daemon acts on it, and a Client.
//
// It owns the endpoint paths (/v1/members, /v1/status, /v1/jobs, /metrics),
// the role and state names, and the error body. It does not know how a
// daemon answers, nor how TLS identities are made: the caller passes a
// *tls.Config (mutual TLS from the cluster secret, or one that pins the
// cluster CA for a bearer token).
//
// It must not import anything of the project.
//
// Usage:
//
//	c, err := api.NewClient("127.0.0.1:7950", tlsConf, token)
//	defer c.Close()
//	ms, err := c.Members(ctx)
//	st, err := c.Status(ctx)
package api
