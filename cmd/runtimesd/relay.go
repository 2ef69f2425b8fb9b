package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	rsync "github.com/runtimesd/runtimesd/sync"
)

// Fleet mode: a runtimesd whose control_plane.relays lists other runtimesds (relays) follows
// them by push instead of polling the control plane (see sync.Relays).
const (
	// EnvRelays overrides control_plane.relays: relay base URLs, comma-separated.
	EnvRelays = "RUNTIMESD_RELAYS"
	// EnvRelayToken is the relays' local token (else control_plane.relay_token_file).
	EnvRelayToken = "RUNTIMESD_RELAY_TOKEN"
	// EnvNodeName overrides node_name.
	EnvNodeName = "RUNTIMESD_NODE_NAME"
)

// applyFleetEnv applies RUNTIMESD_RELAYS, RUNTIMESD_NODE_NAME and the relay token.
func (c *Config) applyFleetEnv(getenv func(string) string) error {
	if v := strings.TrimSpace(getenv(EnvRelays)); v != "" {
		c.ControlPlane.Relays = nil
		for u := range strings.SplitSeq(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.ControlPlane.Relays = append(c.ControlPlane.Relays, u)
			}
		}
		c.setFromEnv("control_plane.relays", EnvRelays)
	}
	if v := strings.TrimSpace(getenv(EnvNodeName)); v != "" {
		c.NodeName = v
		c.setFromEnv("node_name", EnvNodeName)
	}
	if v := strings.TrimSpace(getenv(EnvRelayToken)); v != "" {
		c.relayToken = v
	} else if f := c.ControlPlane.RelayTokenFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return &keyFileError{fmt.Errorf("control_plane.relay_token_file: %w", err)}
		}
		if c.relayToken = strings.TrimSpace(string(b)); c.relayToken == "" {
			return &keyFileError{fmt.Errorf("control_plane.relay_token_file: %s is empty", f)}
		}
	}
	return nil
}

// maxRelays bounds control_plane.relays: a follower asks them in turn on a failure.
const maxRelays = 16

// validateFleet checks the fleet keys.
func (c *Config) validateFleet(bad func(field, format string, args ...any)) {
	if c.NodeName != "" {
		if err := rsync.ValidNodeName(c.NodeName); err != nil {
			bad("node_name", "%v", err)
		}
	}
	if len(c.ControlPlane.Relays) > maxRelays {
		bad("control_plane.relays", "%d relays: at most %d", len(c.ControlPlane.Relays), maxRelays)
	}
	seen := map[string]bool{}
	for _, r := range c.ControlPlane.Relays {
		u, err := url.Parse(r)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("control_plane.relays", "%q: want http(s)://host[:port] of a runtimesd", r)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			bad("control_plane.relays", "%q: no user, password, query or fragment (the token goes in %s)", u.Redacted(), EnvRelayToken)
		case seen[strings.TrimRight(r, "/")]:
			bad("control_plane.relays", "%q is listed twice", r)
		}
		seen[strings.TrimRight(r, "/")] = true
	}
	if c.ControlPlane.RelayFallbackDirect && len(c.ControlPlane.Relays) == 0 {
		bad("control_plane.relay_fallback_direct", "needs control_plane.relays (without relays the control plane is always called directly)")
	}
	if c.ControlPlane.RelayWait.D() < 1e9 || c.ControlPlane.RelayWait.D() > 10*60e9 {
		bad("control_plane.relay_wait", "%s: want 1s to 10m (a relay's http.max_wait caps it)", c.ControlPlane.RelayWait.D())
	}
}

// nodeName is node_name, else the host name with a random suffix: unique among the runtimesds
// of one host, so a relay and its followers on one machine never look like a loop.
func nodeName(cfg Config) string {
	if cfg.NodeName != "" {
		return cfg.NodeName
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == ',' {
			return '_'
		}
		return r
	}, host)
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%.200s-%s", host, hex.EncodeToString(b[:]))
}

// newRelays builds the fleet-mode upstream: the relays, with the control plane (client) as
// the direct fallback when configured. It returns nil when no relay is configured.
func newRelays(cfg Config, name string, client *rsync.Client, logger *slog.Logger) (*rsync.Relays, error) {
	if len(cfg.ControlPlane.Relays) == 0 {
		return nil, nil
	}
	ro := rsync.RelayOptions{URLs: cfg.ControlPlane.Relays, Name: name, Start: -1, Wait: cfg.ControlPlane.RelayWait.D(), Logger: logger,
		Client: rsync.ClientOptions{
			APIKey:             cfg.relayToken,
			Timeout:            cfg.ControlPlane.Timeout.D(),
			MaxResponseBytes:   cfg.ControlPlane.MaxResponseBytes,
			BreakerFailures:    cfg.ControlPlane.Breaker.ConsecutiveFailures,
			BreakerOpenTimeout: cfg.ControlPlane.Breaker.OpenTimeout.D(),
			CAFile:             cfg.ControlPlane.CAFile,
			UserAgent:          "runtimesd/" + version,
			Logger:             logger,
		}}
	if cfg.ControlPlane.RelayFallbackDirect {
		if client == nil {
			logger.Warn("control_plane.relay_fallback_direct is on but there is no API key: no direct fallback")
		} else {
			ro.Direct = client
		}
	}
	r, err := rsync.NewRelays(ro)
	if err != nil {
		return nil, fmt.Errorf("config: control_plane.relays: %w", err)
	}
	logger.Info("fleet mode: following relays", "relays", cfg.ControlPlane.Relays, "node_name", name, "direct_fallback", ro.Direct != nil)
	return r, nil
}
