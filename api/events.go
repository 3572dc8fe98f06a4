package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// listEvents is GET /v1/events: oldest first, after starting_after.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "starting_after", "limit")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	var after int64
	if s := q.Get("starting_after"); s != "" {
		if !invoice.ValidID(s, invoice.PrefixEvent) {
			return httpx.InvalidField("starting_after", "starting_after must be an event id (evt_…)")
		}
		ev, err := a.d.Events.Event(r.Context(), s)
		if errors.Is(err, store.ErrNotFound) {
			e := httpx.NotFound("event")
			e.Field = "starting_after"
			return e
		}
		if err != nil {
			return err
		}
		after = ev.Seq
	}
	evs, err := a.d.Events.EventsAfter(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	page := listPage[json.RawMessage]{Data: make([]json.RawMessage, 0, len(evs))}
	if len(evs) > limit {
		evs, page.HasMore = evs[:limit], true
	}
	for _, e := range evs {
		page.Data = append(page.Data, e.Payload)
	}
	httpx.WriteJSON(w, http.StatusOK, page)
	return nil
}

// redeliverResponse answers POST /v1/events/{id}/redeliver.
type redeliverResponse struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"`
}

// redeliver is POST /v1/events/{id}/redeliver: re-queue an event for every
// matching webhook endpoint.
func (a *API) redeliver(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixEvent, "event")
	if err != nil {
		return err
	}
	if _, err := a.d.Events.Event(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("event")
	} else if err != nil {
		return err
	}
	if err := a.d.Webhooks.Redeliver(r.Context(), id); err != nil {
		if errors.Is(err, webhook.ErrNotFound) {
			return httpx.NotFound("event")
		}
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, redeliverResponse{EventID: id, Status: "queued"})
	return nil
}
