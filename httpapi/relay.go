package httpapi

import (
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/store"
)

// Headers of the relay protocol (fleet mode). A follower (a runtimesd whose upstream is this
// one) names itself in HeaderFollower; only then does the drop-in list or requirements
// answer carry the data's origin: when the control plane gave it (HeaderFetchedAt) and the
// runtimesds it passed through, nearest the control plane first and this one last
// (HeaderRelayChain). Ordinary clients get no extra headers.
const (
	HeaderFollower   = "X-Runtimes-Follower"
	HeaderFetchedAt  = "X-Runtimes-Fetched-At"
	HeaderRelayChain = "X-Runtimes-Relay-Chain"
)

// maxFollowerName bounds the follower's name (sync.ValidNodeName allows 256 bytes).
const maxFollowerName = 256

// nodeName is this runtimesd's name in relay chains: Options.NodeName, else the host name and
// the bound address.
func (s *Server) nodeName() string {
	if s.opts.NodeName != "" {
		return s.opts.NodeName
	}
	host, _ := os.Hostname()
	return strings.ReplaceAll(host+"/"+s.Addr(), ",", "_")
}

// relayHeaders adds the origin headers for a follower, and refuses a follower that the data
// already passed through (a relay loop: A follows B which follows A).
func (s *Server) relayHeaders(c echo.Context, snap *store.Snapshot) error {
	f := c.Request().Header.Get(HeaderFollower)
	if f == "" {
		return nil
	}
	if len(f) > maxFollowerName || strings.ContainsAny(f, ", \t") {
		return errorf(400, "bad_header", "%s must be one name of at most %d characters, without spaces or commas", HeaderFollower, maxFollowerName)
	}
	chain := append(slices.Clone(snap.Relays), s.nodeName())
	if slices.Contains(chain, f) {
		return errorf(508, "relay_loop", "relay loop: %s -> %s: the data already passed through %s; it must follow a runtimesd closer to the control plane",
			strings.Join(chain, " -> "), f, f)
	}
	h := c.Response().Header()
	if !snap.FetchedAt.IsZero() {
		h.Set(HeaderFetchedAt, snap.FetchedAt.UTC().Format(time.RFC3339Nano))
	}
	h.Set(HeaderRelayChain, strings.Join(chain, ","))
	return nil
}
