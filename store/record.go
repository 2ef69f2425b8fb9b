package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
)

// A runtime's record in the bbolt file holds both upstream objects byte for byte (JSON
// encoding would compact them) and what was derived from them, so that a start need not
// parse any JSON: a 10,000-runtime file loads without decoding a single object.
//
//	raw, req        uvarint length + bytes (req empty: none)
//	digest, rawSum  32 bytes each
//	meta            the normalised fields and the decoded requirements (see appendMeta)

type recordWriter []byte

func (w *recordWriter) bytes(b []byte) {
	*w = binary.AppendUvarint(*w, uint64(len(b)))
	*w = append(*w, b...)
}
func (w *recordWriter) str(s string) {
	*w = binary.AppendUvarint(*w, uint64(len(s)))
	*w = append(*w, s...)
}
func (w *recordWriter) strs(l []string) {
	*w = binary.AppendUvarint(*w, uint64(len(l)))
	for _, s := range l {
		w.str(s)
	}
}
func (w *recordWriter) uvarint(v uint64) { *w = binary.AppendUvarint(*w, v) }

var errRecord = errors.New("bad record")

// recordReader reads a record that may point into bbolt's mmap, so nothing it returns may
// alias its input: bytes are copied out. To keep a 10,000-runtime load cheap, a record is
// copied in two pieces rather than field by field: the upstream objects (raw and req, kept as
// []byte) in one allocation (slice), and the rest of the record in one string (meta) that all
// its strings are substrings of. Everything shared is the runtime's own (no other record's or
// answer's backing array is kept alive by it).
type recordReader struct {
	b    []byte
	err  error
	meta string // a copy of the record from metaAt on (see startMeta)
	end  int    // len(b) when meta was taken: b[0] is meta[end-len(b)]
}

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errRecord, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// span returns the next length-prefixed field without copying it (it aliases the input).
func (r *recordReader) span() []byte {
	n := r.uvarint()
	if r.err != nil || uint64(len(r.b)) < n {
		r.err, r.b = errRecord, nil
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// bytes returns a copy of the next length-prefixed field.
func (r *recordReader) bytes() []byte {
	if s := r.span(); s != nil {
		return slices.Clone(s)
	}
	return nil
}

// startMeta copies what is left of the record into one string; str then returns substrings
// of it instead of allocating each string.
func (r *recordReader) startMeta() {
	r.meta, r.end = string(r.b), len(r.b)
}

func (r *recordReader) str() string {
	s := r.span()
	if r.err != nil || len(s) == 0 {
		return ""
	}
	if r.meta == "" { // startMeta not called
		return string(s)
	}
	at := r.end - len(r.b) - len(s)
	return r.meta[at : at+len(s)]
}
func (r *recordReader) strs() []string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errRecord
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}
func (r *recordReader) fixed(dst []byte) {
	if len(r.b) < len(dst) {
		r.err, r.b = errRecord, nil
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

func encodeRecord(rt *Runtime) []byte {
	w := make(recordWriter, 0, len(rt.Raw)+len(rt.RequirementsRaw)+512)
	w.bytes(rt.Raw)
	w.bytes(rt.RequirementsRaw)
	w = append(w, rt.digest[:]...)
	w = append(w, rt.rawSum[:]...)
	for _, s := range []string{rt.ID, rt.Name, rt.Type, rt.Status, rt.DefaultModel} {
		w.str(s)
	}
	w.bytes(rt.DefaultEnvironment)
	w.strs(rt.Features)
	w.strs(rt.Providers)
	w.strs(rt.Families)
	if r := rt.Requirements; r == nil {
		w.uvarint(0)
	} else {
		flags := uint64(1)
		if r.RequiresSystemPrompt {
			flags |= 2
		}
		if r.RequiresTools {
			flags |= 4
		}
		if r.MaxHistoryLength != nil {
			flags |= 8
		}
		w.uvarint(flags)
		w.str(r.ModelRequirement.Description)
		w.strs(r.ModelRequirement.SupportedProviders)
		w.strs(r.ModelRequirement.SupportedFamilies)
		w.strs(r.ModelRequirement.Examples)
		w.strs(r.RequiredConfigFields)
		w.strs(r.RecommendedConfigFields)
		if r.MaxHistoryLength != nil {
			w = binary.AppendVarint(w, int64(*r.MaxHistoryLength))
		}
	}
	return w
}

// decodeRecord rebuilds a Runtime from its record without parsing JSON.
func decodeRecord(v []byte) (*Runtime, error) {
	r := &recordReader{b: v}
	// raw and req come first: one copy holds both (capacity-limited, so an append to one
	// cannot overwrite the other).
	raw := r.span()
	req := r.span()
	if r.err != nil {
		return nil, errRecord
	}
	objs := slices.Clone(v[:len(v)-len(r.b)])
	rawAt := uvarintLen(uint64(len(raw)))
	rt := &Runtime{Raw: objs[rawAt : rawAt+len(raw) : rawAt+len(raw)]}
	if len(req) > 0 {
		reqAt := len(objs) - len(req)
		rt.RequirementsRaw = objs[reqAt:len(objs):len(objs)]
	}
	r.fixed(rt.digest[:])
	r.fixed(rt.rawSum[:])
	r.startMeta()
	rt.ID, rt.Name, rt.Type, rt.Status, rt.DefaultModel = r.str(), r.str(), r.str(), r.str(), r.str()
	if env := r.bytes(); len(env) > 0 {
		rt.DefaultEnvironment = env
	}
	rt.Features, rt.Providers, rt.Families = r.strs(), r.strs(), r.strs()
	if flags := r.uvarint(); flags&1 != 0 {
		req := &Requirements{RequiresSystemPrompt: flags&2 != 0, RequiresTools: flags&4 != 0}
		req.ModelRequirement.Description = r.str()
		req.ModelRequirement.SupportedProviders = r.strs()
		req.ModelRequirement.SupportedFamilies = r.strs()
		req.ModelRequirement.Examples = r.strs()
		req.RequiredConfigFields = r.strs()
		req.RecommendedConfigFields = r.strs()
		if flags&8 != 0 {
			n, k := binary.Varint(r.b)
			if k <= 0 {
				return nil, errRecord
			}
			r.b = r.b[k:]
			h := int(n)
			req.MaxHistoryLength = &h
		}
		rt.Requirements = req
	}
	if r.err != nil || len(r.b) != 0 || rt.ID == "" || len(rt.Raw) == 0 {
		return nil, errRecord
	}
	if sha256.Sum256(rt.Raw) != rt.rawSum {
		return nil, errors.New("record does not match its checksum")
	}
	rt.featureKeys = featureKeys(rt.Features)
	return rt, nil
}

func uvarintLen(v uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], v)
}
