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
// catalog. Every stream starts with a "hello" event naming the current revision (and, when
// resuming, the since it resumes from).
// A comment line every Heartbeat keeps proxies from closing an idle stream.
func (s *Server) handleWatch(c echo.Context) error {
	q, err := checkQuery(c, "since")
	if err != nil {
		return err
	}
	since, resume, err := watchSince(c.Request().Header.Get("Last-Event-ID"), q.Get("since"))
	if err != nil {
		return err
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
	// catchUp sends what happened after last, and returns the revision now reached. It
	// resets exactly when /v1/changes?since=last says complete: false (Snapshot.ResetReason).
	catchUp := func(cur *store.Snapshot, last uint64) (uint64, error) {
		if cur.Revision == last {
			return last, nil
		}
		if why := cur.ResetReason(last); why != "" {
			return cur.Revision, send("reset", cur.Revision, map[string]any{"revision": cur.Revision, "reason": why})
		}
		changes, _ := cur.ChangesSince(last)
		for _, ch := range changes {
			if err := send("change", ch.Revision, ch); err != nil {
				return last, err
			}
		}
		return cur.Revision, nil
	}

	// hello opens every stream. Resuming, its id is the client's own revision, so a stream cut
	// right after it resumes from the same place and misses none of the catch-up.
	last := snap.Revision
	if resume {
		if err := send("hello", since, map[string]any{"revision": snap.Revision, "source": snap.Source, "since": since}); err != nil {
			return nil
		}
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

// watchSince is the revision a watch resumes from, and whether it resumes at all.
// Last-Event-ID wins over ?since: a browser's EventSource reconnects to the same URL (its
// ?since unchanged) and adds Last-Event-ID, the last revision it actually received, so
// preferring the URL would replay every change since then on each reconnect.
func watchSince(lastEventID, sinceParam string) (uint64, bool, error) {
	from := lastEventID
	if sinceParam != "" && from == "" {
		from = sinceParam
	}
	if from == "" {
		return 0, false, nil
	}
	since, err := strconv.ParseUint(from, 10, 64)
	if err != nil {
		return 0, false, errorf(http.StatusBadRequest, "bad_parameter", "Last-Event-ID / since must be a revision number, got %q", from)
	}
	return since, true, nil
}

// Waiting is the number of blocking reads parked on a revision change.
func (s *Server) Waiting() int64 { return s.waiting.Load() }
