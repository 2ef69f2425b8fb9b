package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// maxCacheEntries bounds the per-runtime cache; when it is full it is emptied (a catalog
// rarely holds that many distinct runtime contents within one rule-set generation).
const maxCacheEntries = 16384

// counters are one rule's decisions since the daemon started. They are kept across reloads
// for a rule of the same name, so metrics stay monotonic.
type counters struct{ deny, allow, err atomic.Uint64 }

type compiled struct {
	Rule
	prg        cel.Program
	usesConfig bool
	n          *counters
}

// Set is a compiled rule set. It implements health.Gate and is safe for concurrent use.
type Set struct {
	rules    []*compiled
	gen      uint64
	loadedAt time.Time
	cls      *health.Classifier
	timeout  time.Duration
	noCache  bool
	dropIn   bool
	// usesConfig: some rule reads config (else it is not even normalised).
	usesConfig bool

	mu      gosync.Mutex // guards writes to cache
	cache   atomic.Pointer[gosync.Map]
	entries atomic.Int64
}

var _ health.Gate = (*Set)(nil)

// Compile checks and compiles rules. Every problem is a *RuleError naming the rule and field;
// more than MaxRules rules is ErrTooManyRules.
func Compile(rules []Rule, opts Options) (*Set, error) {
	return compile(rules, opts, nil, 1, time.Now())
}

func compile(rules []Rule, opts Options, prev *Set, gen uint64, now time.Time) (*Set, error) {
	if len(rules) > MaxRules {
		return nil, fmt.Errorf("%w: %d rules", ErrTooManyRules, len(rules))
	}
	if opts.Classifier == nil {
		cls, err := health.NewClassifier(nil)
		if err != nil {
			return nil, fmt.Errorf("build classifier: %w", err)
		}
		opts.Classifier = cls
	}
	if opts.CostLimit == 0 {
		opts.CostLimit = DefaultCostLimit
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	old := map[string]*counters{}
	if prev != nil {
		for _, r := range prev.rules {
			old[r.Name] = r.n
		}
	}
	s := &Set{gen: gen, loadedAt: now, cls: opts.Classifier, timeout: opts.Timeout, noCache: opts.NoCache, dropIn: opts.EnforceDropIn}
	s.cache.Store(new(gosync.Map))
	seen := map[string]bool{}
	var errs []error
	for i, r := range rules {
		r, err := normalise(i, r, seen)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		prg, usesConfig, err := compileRule(env, r, opts)
		if err != nil {
			errs = append(errs, &RuleError{Index: i, Name: r.Name, Field: "deny", Err: fmt.Errorf("does not compile: %w", err)})
			continue
		}
		n := old[r.Name]
		if n == nil {
			n = new(counters)
		}
		s.rules = append(s.rules, &compiled{Rule: r, prg: prg, usesConfig: usesConfig, n: n})
		s.usesConfig = s.usesConfig || usesConfig
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Len is the number of rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Generation counts compilations by the Holder (1 for the first rule set).
func (s *Set) Generation() uint64 { return s.gen }

// EnforceDropIn reports whether policy errors belong in drop-in validate answers too.
func (s *Set) EnforceDropIn() bool { return s != nil && s.dropIn }

// LoadedAt is when the set was compiled.
func (s *Set) LoadedAt() time.Time { return s.loadedAt }

// outcome of one rule on one runtime (and configuration).
type outcome struct {
	kind string // health.VerdictDeny, health.VerdictError or OutcomeAllow
	err  string
}

// entry is what the cache keeps per runtime content: the runtime variable and the outcomes of
// the rules that do not read config (nil entries for those that do).
type entry struct {
	val      map[string]any
	outcomes []outcome
}

// activation resolves the two variables without building a map per evaluation.
type activation struct {
	rt  map[string]any
	cfg map[string]any
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "runtime":
		return a.rt, true
	case "config":
		return a.cfg, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

var emptyConfig = map[string]any{}

// evaluator carries one Check's deadline, created on first use: cached answers need none.
type evaluator struct {
	s      *Set
	ctx    context.Context
	cancel context.CancelFunc
}

func (e *evaluator) eval(r *compiled, act *activation) outcome {
	if e.ctx == nil {
		e.ctx, e.cancel = context.WithTimeout(context.Background(), e.s.timeout)
	}
	out, err := evalSafe(e.ctx, r.prg, act)
	if err != nil {
		return outcome{kind: health.VerdictError, err: truncate(err.Error())}
	}
	switch v := out.(type) {
	case types.Bool:
		if v {
			return outcome{kind: health.VerdictDeny}
		}
		return outcome{kind: OutcomeAllow}
	default:
		return outcome{kind: health.VerdictError, err: truncate(fmt.Sprintf("the expression gave %v, not a boolean", out.Type()))}
	}
}

// evalSafe evaluates, turning a panic inside CEL (a value of a type it does not expect) into
// an error: a rule must never crash a request.
func evalSafe(ctx context.Context, prg cel.Program, act *activation) (out ref.Val, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("evaluation panicked: %v", p)
		}
	}()
	out, _, err = prg.ContextEval(ctx, act)
	return out, err
}

func (e *evaluator) done() {
	if e.cancel != nil {
		e.cancel()
	}
}

// Check evaluates the rules against rt and config and returns the verdicts of the rules that
// denied or could not be evaluated, in rule order. A nil config means no configuration is
// being decided (listing, selecting, resolving runtimes): the rules that read config are not
// evaluated then (nor counted), so that a rule such as "only kubiya/ models" does not deny
// every runtime where no model is in question. A non-nil config, even empty, is decided by
// every rule.
func (s *Set) Check(rt *store.Runtime, config map[string]any) []health.Verdict {
	if s == nil || len(s.rules) == 0 || rt == nil {
		return nil
	}
	decided := config != nil
	if !decided {
		config = emptyConfig
	} else if s.usesConfig {
		config = normaliseConfig(config)
	}
	ev := evaluator{s: s}
	defer ev.done()
	en := s.entry(rt, &ev)
	act := activation{rt: en.val, cfg: config}
	var out []health.Verdict
	for i, r := range s.rules {
		if r.usesConfig && !decided {
			continue // no configuration is being decided: only rules on the runtime apply
		}
		var o outcome
		if en.outcomes != nil && !r.usesConfig {
			o = en.outcomes[i]
		} else {
			o = ev.eval(r, &act)
		}
		switch o.kind {
		case OutcomeAllow:
			r.n.allow.Add(1)
			continue
		case health.VerdictDeny:
			r.n.deny.Add(1)
			out = append(out, health.Verdict{Rule: r.Name, Severity: r.Severity, Outcome: health.VerdictDeny,
				Message: r.Message, Blocking: r.Severity == health.SeverityError})
		default:
			r.n.err.Add(1)
			out = append(out, health.Verdict{Rule: r.Name, Severity: r.Severity, Outcome: health.VerdictError,
				Message:  fmt.Sprintf("policy rule %q could not be evaluated (%s): %s", r.Name, onErrorWord(r.OnError), o.err),
				Blocking: r.OnError == OnErrorDeny})
		}
	}
	return out
}

func onErrorWord(onError string) string {
	if onError == OnErrorDeny {
		return "on_error: deny, so it denies"
	}
	return "on_error: allow, so it allows"
}

// entry returns the runtime's cached variable and runtime-only outcomes, computing them on a
// miss. An entry whose evaluation hit the deadline is not kept (the next request retries).
func (s *Set) entry(rt *store.Runtime, ev *evaluator) *entry {
	var key [sha256.Size]byte
	if !s.noCache {
		key = rt.Digest()
		if v, ok := s.cache.Load().Load(key); ok {
			return v.(*entry)
		}
	}
	en := &entry{val: runtimeValue(rt, s.cls)}
	if s.noCache {
		return en
	}
	en.outcomes = make([]outcome, len(s.rules))
	act := activation{rt: en.val, cfg: emptyConfig}
	for i, r := range s.rules {
		if !r.usesConfig {
			en.outcomes[i] = ev.eval(r, &act)
		}
	}
	if ev.ctx != nil && ev.ctx.Err() != nil {
		return en
	}
	if s.entries.Add(1) > maxCacheEntries {
		s.mu.Lock()
		if s.entries.Load() > maxCacheEntries {
			s.cache.Store(new(gosync.Map))
			s.entries.Store(1)
		}
		s.mu.Unlock()
	}
	s.cache.Load().Store(key, en)
	return en
}
