package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/store"
)

// handleWatch is GET /v1/watch: a Server-Sent Events stream of change records.
//
// Every event has the revision as its id, so a client that reconnects with Last-Event-ID (or
// ?since=REV) resumes where it left off; when the bounded change log no longer reaches back
// that far, or the data file was replaced, it gets a "reset" event telling it to re-read the
// catalog. Without either, the stream starts with a "hello" event naming the current revision.
// A comment line every Heartbeat keeps proxies from closing an idle stream.
func (s *Server) handleWatch(c echo.Context) error {
	q, err := checkQuery(c, "since")
	if err != nil {
		return err
	}
	from := c.Request().Header.Get("Last-Event-ID")
	if v := q.Get("since"); v != "" {
		from = v
	}
	var since uint64
	resume := from != ""
	if resume {
		since, err = strconv.ParseUint(from, 10, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, "bad_parameter", "Last-Event-ID / since must be a revision number, got %q", from)
		}
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set(HeaderRevision, strconv.FormatUint(snap.Revision, 10))
	w.WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	send := func(event string, id uint64, data any) error {
		b, err := marshalNoEscape(data)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, event, b); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	reset := func(cur *store.Snapshot, why string) error {
		return send("reset", cur.Revision, map[string]any{"revision": cur.Revision, "reason": why})
	}
	// catchUp sends what happened after last, and returns the revision now reached.
	catchUp := func(cur *store.Snapshot, last uint64) (uint64, error) {
		switch {
		case cur.Revision == last:
			return last, nil
		case cur.Revision < last:
			return cur.Revision, reset(cur, fmt.Sprintf("revision %d is ahead of the data (%d): the data file was replaced; re-read the catalog", last, cur.Revision))
		}
		changes, complete := cur.ChangesSince(last)
		if !complete {
			return cur.Revision, reset(cur, fmt.Sprintf("the change history after revision %d is gone; re-read the catalog", last))
		}
		for _, ch := range changes {
			if err := send("change", ch.Revision, ch); err != nil {
				return last, err
			}
		}
		return cur.Revision, nil
	}

	last := snap.Revision
	if resume {
		if last, err = catchUp(snap, since); err != nil {
			return nil
		}
	} else if err := send("hello", snap.Revision, map[string]any{"revision": snap.Revision, "source": snap.Source}); err != nil {
		return nil
	}
	hb := time.NewTicker(s.opts.Heartbeat)
	defer hb.Stop()
	ctx := c.Request().Context()
	for {
		ch := s.opts.Live.Changed()
		if cur := s.opts.Live.Load(); cur.Revision != last {
			if last, err = catchUp(cur, last); err != nil {
				return nil
			}
			continue
		}
		select {
		case <-ch:
		case t := <-hb.C:
			if _, err := fmt.Fprintf(w, ": heartbeat %s\n\n", t.UTC().Format(time.RFC3339)); err != nil {
				return nil
			}
			w.Flush()
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		}
	}
}

// Waiting is the number of blocking reads parked on a revision change.
func (s *Server) Waiting() int64 { return s.waiting.Load() }
