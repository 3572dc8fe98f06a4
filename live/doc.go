// Package live fans committed events out to websocket clients, in process.
//
// It owns two endpoints (API.md "Live updates"):
//
//   - GET /i/{id}/ws (public, used by the checkout page): on connect the
//     invoice's public view as {"type":"invoice","invoice":{…}}, then one such
//     message per change of that invoice, pings every PingInterval, and a
//     normal closure right after a final status (settled, expired, invalid)
//     has been sent. Changes are coalesced: a burst of events for one invoice
//     wakes the connection once, it loads the invoice and sends the latest
//     view; a view whose invoice.sequence is not newer than the last one sent
//     is dropped. An unknown or malformed id is a 404 before upgrading.
//   - GET /v1/events/ws (authenticated by the caller): every event's webhook
//     body as one text message. With ?starting_after=evt_… the events after
//     that one are replayed from the outbox first, then the connection
//     switches to live events without a gap or a duplicate: it subscribes
//     before the first outbox read, buffers live events during the replay and
//     drops those the replay already sent. An unknown starting_after is a 404
//     in the API's error shape.
//
// Publish is called by cmd/payd right after a write transaction that produced
// events has committed. It never blocks and never does I/O beyond closing the
// socket of a consumer that fell behind: every /v1/events/ws connection has a
// bounded queue (Options.Buffer, 16 times that while it replays, so that live
// events committed during a long replay are held rather than fatal) and is
// disconnected when it is full, and an
// invoice connection has a single coalescing wake-up slot. Every write has a
// deadline (Options.WriteTimeout), and a client that stops answering pings is
// dropped, so a stuck client costs one goroutine pair for a bounded time.
//
// Replay dedup uses Event.Seq when the published events carry it; when they
// do not (Seq 0, events as built before the insert), the ids of the most
// recently replayed events are remembered instead, which covers every event
// that can be both replayed and published to the same connection.
//
// live imports invoice and internal/httpx only. It must not import store,
// service, api or checkout: the invoice loader and the outbox readers come in
// as function fields of Options (method values of service.Invoices and
// *store.DB), so this package holds no database and does no authentication —
// the caller mounts ServeEvents behind the API key check. It does not
// deliver webhooks (package webhook does) and keeps no state across restarts:
// a client reconnects with starting_after to catch up.
package live
