package health

import (
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// Answers are the rules in force when an answer is built: the validation rules, the health
// classes, the fallback rules, the staleness bound and the organisation's policy. Every answer
// of the native API (and of the CLI, online or offline) is built by a method of Answers from a
// snapshot, without HTTP; httpapi decodes the request and encodes the answer.
//
// Answers is a small value: httpapi builds one per request from its reloadable options.
type Answers struct {
	Validator  *store.Validator
	Classifier *Classifier
	Fallback   FallbackRules
	MaxStale   time.Duration
	// Gate is the policy (issue 18); nil allows everything.
	Gate Gate
}

// Provenance is snap's provenance at now (see ProvenanceOf).
func (a Answers) Provenance(snap *store.Snapshot, now time.Time) Provenance {
	return ProvenanceOf(snap, now, a.MaxStale)
}

// check asks the gate about rt (and config, when one is judged); nil without a gate.
func (a Answers) check(rt *store.Runtime, config map[string]any) []Verdict {
	if a.Gate == nil || rt == nil {
		return nil
	}
	return a.Gate.Check(rt, config)
}

// blocking returns the first blocking verdict, or nil.
func blocking(vs []Verdict) *Verdict {
	for i := range vs {
		if vs[i].Blocking {
			return &vs[i]
		}
	}
	return nil
}

// PolicyDenial words a blocking verdict about runtime id: the rule named, then its message.
func PolicyDenial(id string, v Verdict) string {
	return verdictText(id, v, "denies runtime '"+id+"'")
}

// policyWarning words a verdict that does not block.
func policyWarning(id string, v Verdict) string {
	return verdictText(id, v, "warns about runtime '"+id+"'")
}

// verdictText is "policy rule 'R' <what>: <message>" for a rule that fired (what says it
// denied or warned). A rule that could not be evaluated has a message that already names it,
// its on_error and the cause (Verdict.Message), so it is "runtime 'X': <message>".
func verdictText(id string, v Verdict, what string) string {
	if v.Outcome == VerdictError && v.Message != "" {
		return "runtime '" + id + "': " + v.Message
	}
	s := "policy rule '" + v.Rule + "' "
	if v.Outcome == VerdictError {
		s += "could not be evaluated for runtime '" + id + "'"
	} else {
		s += what
	}
	if v.Message != "" {
		s += ": " + v.Message
	}
	return s
}

// appendVerdicts appends a JSON array of verdicts.
func appendVerdicts(b []byte, vs []Verdict) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"rule":`...)
		b = AppendJSONString(b, v.Rule)
		b = append(b, `,"severity":`...)
		b = AppendJSONString(b, v.Severity)
		b = append(b, `,"outcome":`...)
		b = AppendJSONString(b, v.Outcome)
		b = append(b, `,"message":`...)
		b = AppendJSONString(b, v.Message)
		b = append(b, `,"blocking":`...)
		if v.Blocking {
			b = append(b, "true}"...)
		} else {
			b = append(b, "false}"...)
		}
	}
	return append(b, ']')
}
