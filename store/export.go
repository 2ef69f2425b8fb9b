package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ExportFormat names the JSON document written by `runtimesd export`.
const ExportFormat = "runtimesd.snapshot.v1"

// ErrBadSnapshotFile is wrapped by every error about a seed or import file.
var ErrBadSnapshotFile = errors.New("bad snapshot file")

type exportDoc struct {
	Format    string         `json:"format"`
	Revision  uint64         `json:"revision"`
	Source    Source         `json:"source"`
	FetchedAt *time.Time     `json:"fetched_at,omitempty"`
	Runtimes  []exportRecord `json:"runtimes"`
}

type exportRecord struct {
	Runtime      json.RawMessage `json:"runtime"`
	Requirements json.RawMessage `json:"requirements"`
}

// Export encodes a snapshot as a self-contained JSON document that ParseSnapshotFile reads
// back: every runtime object and requirements object verbatim, with the provenance.
//
// The objects are written byte for byte (encoding/json would compact them), one runtime a line.
func Export(s *Snapshot) ([]byte, error) {
	head := exportDoc{Format: ExportFormat, Revision: s.Revision, Source: s.Source}
	if !s.FetchedAt.IsZero() {
		t := s.FetchedAt.UTC()
		head.FetchedAt = &t
	}
	b, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	// Replace the trailing "runtimes":null} with the verbatim records.
	b = bytes.TrimSuffix(b, []byte(`"runtimes":null}`))
	b = append(b, "\"runtimes\":[\n"...)
	for i, rt := range s.Catalog.Runtimes() {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		b = append(b, `{"runtime":`...)
		b = append(b, rt.Raw...)
		b = append(b, `,"requirements":`...)
		if rt.RequirementsRaw == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, rt.RequirementsRaw...)
		}
		b = append(b, '}')
	}
	return append(b, "\n]}"...), nil
}

// SnapshotFile is what a seed or import file holds: the catalog and, for an export
// document, the provenance it was exported with.
type SnapshotFile struct {
	Catalog *Catalog
	// FetchedAt is when the control plane last confirmed the exported data; zero for a plain
	// array or an export of data never confirmed.
	FetchedAt time.Time
	// Source and Revision are the exporting store's; empty and 0 for a plain array.
	Source   Source
	Revision uint64
}

// ParseSnapshotFile reads a catalog from either an export document (see Export) or a plain JSON
// array as GET /api/v1/runtimes returns it, with requirements inline. Both let an air-gapped
// host be seeded.
func ParseSnapshotFile(data []byte) (*Catalog, error) {
	f, err := ParseSnapshotDoc(data)
	if err != nil {
		return nil, err
	}
	return f.Catalog, nil
}

// ParseSnapshotDoc is ParseSnapshotFile keeping the export's provenance.
func ParseSnapshotDoc(data []byte) (SnapshotFile, error) {
	c, doc, err := parseSnapshot(data)
	if err != nil {
		return SnapshotFile{}, err
	}
	f := SnapshotFile{Catalog: c}
	if doc != nil {
		f.Source, f.Revision = doc.Source, doc.Revision
		if doc.FetchedAt != nil {
			f.FetchedAt = *doc.FetchedAt
		}
	}
	return f, nil
}

func parseSnapshot(data []byte) (*Catalog, *exportDoc, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: empty", ErrBadSnapshotFile)
	}
	switch data[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadSnapshotFile, err)
		}
		rts := make([]*Runtime, 0, len(items))
		for i, raw := range items {
			req, err := InlineRequirements(raw)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: item %d: %v", ErrBadSnapshotFile, i, err)
			}
			rt, err := NewRuntime(raw, req)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: item %d: %v", ErrBadSnapshotFile, i, err)
			}
			rts = append(rts, rt)
		}
		c, err := NewCatalog(rts)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadSnapshotFile, err)
		}
		return c, nil, nil
	case '{':
		var doc exportDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadSnapshotFile, err)
		}
		if doc.Format == "" {
			// A saved error answer ({"detail": ..} or {"error": ..}) rather than a catalog.
			var e struct {
				Detail json.RawMessage `json:"detail"`
				Error  json.RawMessage `json:"error"`
			}
			if json.Unmarshal(data, &e) == nil && (e.Detail != nil || e.Error != nil) {
				return nil, nil, fmt.Errorf("%w: it holds an error answer, not runtimes (%.200s)", ErrBadSnapshotFile, bytes.TrimSpace(data))
			}
		}
		if doc.Format != ExportFormat {
			return nil, nil, fmt.Errorf("%w: format is %q, want %q", ErrBadSnapshotFile, doc.Format, ExportFormat)
		}
		rts := make([]*Runtime, 0, len(doc.Runtimes))
		for i, rec := range doc.Runtimes {
			rt, err := NewRuntime(rec.Runtime, rec.Requirements)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: runtime %d: %v", ErrBadSnapshotFile, i, err)
			}
			rts = append(rts, rt)
		}
		c, err := NewCatalog(rts)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadSnapshotFile, err)
		}
		return c, &doc, nil
	default:
		return nil, nil, fmt.Errorf("%w: neither a JSON array of runtimes nor a %s document", ErrBadSnapshotFile, ExportFormat)
	}
}
