package health

import "github.com/runtimesd/runtimesd/store"

// Gate is the organisation's policy as the answer layer sees it (issue 18): given one runtime
// and, when a configuration is being validated or built, that configuration (nil otherwise), it
// returns the verdicts of the rules that fired or could not be evaluated. A nil Gate allows
// everything. Implementations must be safe for concurrent use and bounded in time.
type Gate interface {
	Check(rt *store.Runtime, config map[string]any) []Verdict
}

// Verdict is one policy rule's decision about one runtime (and configuration).
type Verdict struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"` // SeverityError or SeverityWarning
	Outcome  string `json:"outcome"`  // VerdictDeny or VerdictError
	// Message is, for VerdictDeny, the rule's message; for VerdictError, a sentence naming the
	// rule, what its on_error makes of the error, and the cause (the answers quote it whole).
	Message string `json:"message"`
	// Blocking reports whether the verdict makes the runtime ineligible and the configuration
	// invalid: a denying error-severity rule, or a rule that could not be evaluated while its
	// on_error is deny.
	Blocking bool `json:"blocking"`
}

// Verdict severities and outcomes.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	// VerdictDeny: the rule's deny expression held.
	VerdictDeny = "deny"
	// VerdictError: the rule could not be evaluated (missing field, wrong type, cost limit).
	VerdictError = "error"
)

// GateFunc adapts a function to Gate.
type GateFunc func(rt *store.Runtime, config map[string]any) []Verdict

// Check calls f.
func (f GateFunc) Check(rt *store.Runtime, config map[string]any) []Verdict { return f(rt, config) }
