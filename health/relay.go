package health

import "time"

// RelayStatus is what a follower reports of the relays it follows (fleet mode): which one the
// data comes through, the chain of runtimesds between it and the control plane, and each
// relay's circuit breaker.
type RelayStatus struct {
	// Following is the relay (or "direct" for the control plane itself, on fallback) whose
	// answer was used last; "" before any answer.
	Following string `json:"following"`
	// Chain lists the runtimesds the data passed through, nearest the control plane first.
	Chain []string `json:"chain"`
	// OriginSource is the source the relay reported for its own copy (upstream, cache,
	// relay, import).
	OriginSource string `json:"origin_source,omitempty"`
	// OriginFetchedAt is when the control plane gave the data the relay served.
	OriginFetchedAt *time.Time `json:"origin_fetched_at,omitempty"`
	// Push says whether a watch on the relay is open now (changes arrive by push; the
	// schedule is the safety net).
	Push bool `json:"push"`
	// DirectFallback says whether the control plane is called directly when every relay fails.
	DirectFallback bool `json:"direct_fallback"`
	// Relays lists every configured relay in this follower's order of preference.
	Relays []RelayEndpoint `json:"relays"`
}

// RelayEndpoint is one relay's state as its follower sees it.
type RelayEndpoint struct {
	URL         string     `json:"url"`
	Breaker     string     `json:"breaker"`
	LastOK      *time.Time `json:"last_ok,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}
