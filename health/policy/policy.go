// Package policy is the organisation's policy layer (issue 18): rules written in CEL
// (cel.dev/cel-go, the language of Kubernetes ValidatingAdmissionPolicy) that deny runtimes, or
// configurations for them, where the control plane would allow them.
//
// A rule set is compiled once per (re)load into a *Set, which implements health.Gate; a Holder
// keeps the current Set behind an atomic pointer so that a reload swaps it without locking
// readers. Evaluation is bounded by CEL's cost limit and, as a second guard, by a deadline.
//
// policy imports store and health only; health must not import it (the answer layer sees a
// health.Gate).
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// Bounds of a rule set, so that a config cannot make compilation, evaluation or the metrics'
// label set unbounded.
const (
	MaxRules         = 256
	MaxNameLen       = 64
	MaxExprLen       = 4096
	MaxMessageLen    = 1024
	DefaultCostLimit = 100_000
	DefaultTimeout   = 100 * time.Millisecond
	// maxErrorLen caps the text of an evaluation error in a verdict: CEL errors quote keys and
	// values, which come from callers.
	maxErrorLen = 200
)

// OnError values: what a rule that cannot be evaluated means.
const (
	OnErrorDeny  = "deny"
	OnErrorAllow = "allow"
)

// Outcomes counted per rule (health.VerdictDeny, health.VerdictError, and OutcomeAllow).
const OutcomeAllow = "allow"

// Rule is one policy rule as configured.
type Rule struct {
	// Name identifies the rule in verdicts, metrics and the dashboard: 1 to 64 characters of
	// letters, digits, '-', '_' and '.'.
	Name string `yaml:"name" json:"name"`
	// Deny is a CEL expression over runtime and config; the rule fires when it is true.
	Deny string `yaml:"deny" json:"deny"`
	// Message is the sentence a verdict carries; empty: "denied by policy rule NAME".
	Message string `yaml:"message" json:"message"`
	// Severity is error (default: blocking) or warning (listed, never blocking).
	Severity string `yaml:"severity" json:"severity"`
	// OnError is what a rule that cannot be evaluated means: deny (blocking) or allow (listed
	// as an error verdict, not blocking). Default: deny for error rules, allow for warnings.
	OnError string `yaml:"on_error" json:"on_error"`
}

// RuleError is a rule that cannot be used: it names the rule's index, its name and the field
// at fault (name, deny, message, severity, on_error) so that a config check can name the line.
type RuleError struct {
	Index int
	Name  string
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("policy rule #%d: %s: %v", e.Index+1, e.Field, e.Err)
	}
	return fmt.Sprintf("policy rule %q: %s: %v", e.Name, e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// ErrTooManyRules is returned for a rule set longer than MaxRules.
var ErrTooManyRules = fmt.Errorf("more than %d policy rules", MaxRules)

// RuntimeFields are the fields of the runtime variable, named as in the native runtime answer
// (GET /v1/runtimes/{id}), plus health (the runtime's health class). requirements is the
// requirements object as upstream sent it (an empty map when the runtime has none).
var RuntimeFields = []string{"id", "name", "type", "status", "health", "features", "providers", "families", "requirements"}

// Options configure a compiled Set.
type Options struct {
	// Classifier gives the health field; nil: health.NewClassifier(nil)'s default map.
	Classifier *health.Classifier
	// CostLimit bounds one rule's evaluation in CEL cost units; 0: DefaultCostLimit.
	CostLimit uint64
	// Timeout bounds one Check as a second guard; 0: DefaultTimeout.
	Timeout time.Duration
	// NoCache turns the runtime-level result cache off (benchmarks compare both).
	NoCache bool
	// EnforceDropIn: policy errors are added to the drop-in validate answer too (reloaded with
	// the rules, so it is read from the same Set).
	EnforceDropIn bool
}

// normalise fills a rule's defaults and checks its fields.
func normalise(i int, r Rule, seen map[string]bool) (Rule, error) {
	bad := func(field, format string, args ...any) error {
		return &RuleError{Index: i, Name: r.Name, Field: field, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case r.Name == "":
		return r, bad("name", "must not be empty")
	case len(r.Name) > MaxNameLen:
		return r, bad("name", "longer than %d characters", MaxNameLen)
	case strings.IndexFunc(r.Name, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}) >= 0:
		return r, bad("name", "%q: use letters, digits, '-', '_' and '.' only", r.Name)
	case seen[r.Name]:
		return r, bad("name", "%q is used by another rule", r.Name)
	}
	seen[r.Name] = true
	switch r.Severity {
	case "":
		r.Severity = health.SeverityError
	case health.SeverityError, health.SeverityWarning:
	default:
		return r, bad("severity", "%q: want error or warning", r.Severity)
	}
	switch r.OnError {
	case "":
		r.OnError = OnErrorDeny
		if r.Severity == health.SeverityWarning {
			r.OnError = OnErrorAllow
		}
	case OnErrorDeny, OnErrorAllow:
	default:
		return r, bad("on_error", "%q: want deny or allow", r.OnError)
	}
	switch {
	case strings.TrimSpace(r.Deny) == "":
		return r, bad("deny", "must not be empty (a CEL expression that is true when the rule denies)")
	case len(r.Deny) > MaxExprLen:
		return r, bad("deny", "%d bytes, longer than %d", len(r.Deny), MaxExprLen)
	case !utf8.ValidString(r.Deny):
		return r, bad("deny", "is not valid UTF-8")
	case len(r.Message) > MaxMessageLen:
		return r, bad("message", "%d bytes, longer than %d", len(r.Message), MaxMessageLen)
	}
	if r.Message == "" {
		r.Message = fmt.Sprintf("denied by policy rule %q", r.Name)
	}
	return r, nil
}

// newEnv declares the two variables. Both are maps of dynamic values, so that fields upstream
// adds later and any configuration can be read; the fields of runtime are checked at compile
// time (see checkRuntimeFields) so that a typo is refused rather than denying at every request.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("runtime", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("config", cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxExprLen),
		cel.ParserRecursionLimit(100),
		cel.ExpressionNodeLimit(2000),
	)
}

// compileRule compiles one deny expression; it reports whether the expression reads config.
func compileRule(env *cel.Env, r Rule, opts Options) (cel.Program, bool, error) {
	ast, iss := env.Compile(r.Deny)
	if iss != nil && iss.Err() != nil {
		return nil, false, celIssues(iss)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, false, fmt.Errorf("the expression is %s, want a boolean (true denies)", ast.OutputType())
	}
	usesConfig, err := inspect(ast.NativeRep())
	if err != nil {
		return nil, false, err
	}
	// The deadline is checked at every comprehension iteration: CEL's cost model counts an
	// operation on a dyn value (all of config) as 1 whatever its size, so one iteration can
	// concatenate megabytes within the cost limit; checking every 100 let one request run 25×
	// past its deadline (TestCheck_DeadlineStopsEveryIteration). The check is a channel poll.
	prg, err := env.Program(ast,
		cel.CostLimit(opts.CostLimit),
		cel.InterruptCheckFrequency(1),
	)
	if err != nil {
		return nil, false, fmt.Errorf("plan expression: %w", err)
	}
	return prg, usesConfig, nil
}

// celIssues flattens CEL's multi-line report into one line per problem: "line:column: message".
func celIssues(iss *cel.Issues) error {
	var parts []string
	for _, e := range iss.Errors() {
		parts = append(parts, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
	}
	if len(parts) == 0 {
		return iss.Err()
	}
	return errors.New(strings.Join(parts, "; "))
}

// inspect walks the checked expression: it refuses runtime.X for an X the runtime variable
// never has, and reports whether config is referenced (rules that do not read it are cached
// per runtime).
func inspect(a *celast.AST) (usesConfig bool, err error) {
	known := map[string]bool{}
	for _, f := range RuntimeFields {
		known[f] = true
	}
	celast.PostOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == "config" {
				usesConfig = true
			}
		case celast.CallKind:
			c := e.AsCall()
			if args := c.Args(); c.FunctionName() == "matches" && len(args) > 0 && args[len(args)-1].Kind() != celast.LiteralKind && err == nil {
				err = errors.New("matches: the pattern must be a constant string: a pattern read from config or runtime is compiled at every request, " +
					"and a hostile one took a second, past any deadline")
			}
		case celast.SelectKind:
			s := e.AsSelect()
			op := s.Operand()
			if op.Kind() == celast.IdentKind && op.AsIdent() == "runtime" && !known[s.FieldName()] && err == nil {
				err = fmt.Errorf("runtime has no field %q (it has %s)", s.FieldName(), strings.Join(RuntimeFields, ", "))
			}
		}
	}))
	return usesConfig, err
}

// runtimeValue is the runtime variable: the native answer's fields as CEL reads them.
func runtimeValue(rt *store.Runtime, cls *health.Classifier) map[string]any {
	req := map[string]any{}
	if len(rt.RequirementsRaw) > 0 {
		var m map[string]any
		if json.Unmarshal(rt.RequirementsRaw, &m) == nil && m != nil {
			req = m
		}
	}
	return map[string]any{
		"id":           rt.ID,
		"name":         rt.Name,
		"type":         rt.Type,
		"status":       rt.Status,
		"health":       string(cls.Of(rt)),
		"features":     nonNil(rt.Features),
		"providers":    nonNil(rt.Providers),
		"families":     nonNil(rt.Families),
		"requirements": req,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// truncate cuts an error text to maxErrorLen bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	s = s[:maxErrorLen]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// number is a JSON number kept as text: json.Number, and the drop-in parser's numbers, which
// also stand for NaN and ±Infinity. Read as numbers directly: going through their JSON (an
// encoder and a decoder per number) cost 20× the whole validation on a body of 400,000 numbers,
// and turned Infinity into the string "Infinity", which no numeric rule can compare.
type number interface {
	Int64() (int64, error)
	Float64() (float64, error)
	String() string
}

// maxConfigDepth bounds the walk of normaliseConfig; deeper values are left as they are.
const maxConfigDepth = 64

func decodeJSONValue(b []byte, depth int) any {
	var d any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if dec.Decode(&d) != nil {
		return string(b)
	}
	return normaliseValue(d, depth)
}

// normaliseConfig returns config with the values a JSON decoder leaves that CEL would misread
// replaced: a json.Number becomes an int when integral (else a double), and a json.RawMessage
// (store.AgentConfig's environment) and any other json.Marshaler (the drop-in parser's numbers)
// are decoded. Without them, CEL sees a number sent as
// json.Number as a string and an environment object as bytes. config is returned as it is
// (no copy) when it holds neither.
func normaliseConfig(config map[string]any) map[string]any {
	if !needsNormalising(config, 0) {
		return config
	}
	out, _ := normaliseValue(config, 0).(map[string]any)
	return out
}

func needsNormalising(v any, depth int) bool {
	if depth > maxConfigDepth {
		return false
	}
	switch x := v.(type) {
	case number, json.RawMessage, json.Marshaler:
		return true
	case map[string]any:
		for _, e := range x {
			if needsNormalising(e, depth+1) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if needsNormalising(e, depth+1) {
				return true
			}
		}
	}
	return false
}

func normaliseValue(v any, depth int) any {
	if depth > maxConfigDepth {
		return v
	}
	switch x := v.(type) {
	case number: // json.Number, and the drop-in parser's numbers (NaN and Infinity included)
		if i, err := x.Int64(); err == nil {
			return i
		}
		// Beyond float64 is ±Inf, as Python reads it (strconv says so with ErrRange).
		if f, err := x.Float64(); err == nil || math.IsInf(f, 0) {
			return f
		}
		return x.String()
	case json.RawMessage:
		return decodeJSONValue(x, depth)
	case json.Marshaler: // a caller's own number or value type: read as the JSON it stands for
		b, err := x.MarshalJSON()
		if err != nil {
			return nil
		}
		return decodeJSONValue(b, depth)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normaliseValue(e, depth+1)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = normaliseValue(e, depth+1)
		}
		return l
	}
	return v
}
